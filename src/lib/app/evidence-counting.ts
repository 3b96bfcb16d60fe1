/**
 * Telling the learner what was tried: counted in its store now or, when the
 * store refuses (or is already known to be down), kept in the notification's
 * record for recovery to count (app/recovery.ts). Throws only when even keeping
 * it failed. `tried` are one notification's observations.
 */
import type { Deps } from './deps';
import { errorText, log } from '../log';
import type { Observation } from '../store/evidence';

export async function countOrKeep(
  deps: Deps,
  userId: string,
  tried: Observation[],
  how: { storeDown?: boolean; count?: () => Promise<unknown> } = {},
): Promise<void> {
  if (tried.length === 0) return;
  const notification = tried[0].notificationId;
  if (how.storeDown) {
    // it failed in this request already: keep it rather than wait on retries
    log.warn('evidence kept for recovery', { notification, error: 'evidence store unavailable' });
  } else {
    try {
      await (how.count ?? (() => deps.evidence.record(userId, tried)))();
      return;
    } catch (err) {
      log.warn('evidence kept for recovery', { notification, error: errorText(err) });
    }
  }
  await deps.store.keepEvidence(notification, tried);
}
