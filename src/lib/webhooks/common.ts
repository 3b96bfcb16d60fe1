/** What every engagement webhook does last: track its events and advance the record, together. */
import type { CallbackContext } from '../callbacks';
import { SegmentMessage, track } from '../clients/segment';
import type { Config } from '../config';
import { ApiError } from '../http/errors';
import { log } from '../log';
import { advance, RecordStore, StepStatus } from '../store/records';

export interface StepUpdate {
  notificationId: string;
  channel: CallbackContext['channel'];
  status: StepStatus;
  error?: string;
}

/** Applies step updates of one notification in one read-modify-write. */
export async function applyStepUpdates(store: RecordStore, updates: StepUpdate[]): Promise<void> {
  if (updates.length === 0) return;
  const id = updates[0].notificationId;
  await store.updateNotification(id, (record) => {
    let changed = false;
    const at = new Date().toISOString();
    for (const u of updates) {
      const step = record.steps.find((s) => s.channel === u.channel);
      if (step && advance(step, u.status, at, u.error)) changed = true;
    }
    return changed;
  });
}

/**
 * Tracks the events and applies the record updates concurrently. When Segment
 * cannot take the events the webhook answers 503, so Twilio or SendGrid retry;
 * the retried events carry the same messageIds and are deduplicated.
 */
export async function finish(config: Config, store: RecordStore, events: SegmentMessage[], updates: StepUpdate[]): Promise<void> {
  const byNotification = new Map<string, StepUpdate[]>();
  for (const u of updates) byNotification.set(u.notificationId, [...(byNotification.get(u.notificationId) ?? []), u]);
  const [tracked, ...stored] = await Promise.allSettled([
    track(config, events),
    ...[...byNotification.values()].map((group) => applyStepUpdates(store, group)),
  ]);
  for (const s of stored) if (s.status === 'rejected') log.error('record update failed', { error: (s.reason as Error).message });
  if (tracked.status === 'rejected') {
    log.error('Segment tracking failed; asking the sender to retry', { error: (tracked.reason as Error).message });
    throw new ApiError(503, 'tracking_unavailable', 'events could not be delivered to Segment; retry later');
  }
  if (stored.some((s) => s.status === 'rejected')) throw new ApiError(503, 'state_unavailable', 'the notification record could not be updated; retry later');
}
