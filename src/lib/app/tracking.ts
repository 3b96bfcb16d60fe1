/** Tracking that loses nothing: what Segment cannot take now waits in the notification's record. */
import { track } from '../clients/segment';
import type { SegmentMessage } from '../segment-messages';
import type { Config } from '../config';
import type { Upstream } from '../upstream';
import { errorText, log } from '../log';
import type { RecordStore } from '../store/records';

/** Tracks the events; when Segment fails, keeps them in the record, where the next callback of the notification delivers them. */
export async function trackOrDefer(
  config: Config,
  store: RecordStore,
  notificationId: string,
  events: SegmentMessage[],
  upstream: Upstream,
): Promise<'ok' | 'deferred'> {
  try {
    await track(config, events, upstream);
    return 'ok';
  } catch (err) {
    log.error('Segment tracking deferred', { notification: notificationId, error: errorText(err) });
    await store
      .deferEvents(notificationId, events)
      .catch((e) => log.error('deferred events not stored', { error: errorText(e) }));
    return 'deferred';
  }
}
