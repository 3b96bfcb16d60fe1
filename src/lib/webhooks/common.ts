/** What every engagement webhook does last: advance the records (with journey rules), then track. */
import { serviceBaseUrl } from '../callbacks';
import { SegmentMessage, track } from '../clients/segment';
import { twilioClient } from '../clients/twilio';
import type { EndpointRequest } from '../http/endpoint';
import { ApiError } from '../http/errors';
import { applyUpdates, JourneyDeps, StepUpdate } from '../journey/progress';
import { log } from '../log';
import { RecordStore } from '../store/records';

export type { StepUpdate };

export function journeyDeps(req: EndpointRequest): JourneyDeps {
  const client = twilioClient(req.config, req.deadline);
  return { client, deadline: req.deadline, config: req.config, store: new RecordStore(client, req.config), baseUrl: serviceBaseUrl(req.config, req.context) };
}

/**
 * Applies the record updates (one read-modify-write per notification, with the
 * journey transitions they cause), then tracks the webhook's events and the
 * journey's in one batch. When Segment or Sync cannot take them the webhook
 * answers 503, so Twilio or SendGrid retry; retried events carry the same
 * messageIds and retried transitions change nothing.
 */
export async function finish(deps: JourneyDeps, events: SegmentMessage[], updates: StepUpdate[]): Promise<void> {
  const byNotification = new Map<string, StepUpdate[]>();
  for (const u of updates) byNotification.set(u.notificationId, [...(byNotification.get(u.notificationId) ?? []), u]);
  const groups = [...byNotification.values()];
  const applied = await Promise.allSettled(groups.map((group) => applyUpdates(deps, group)));
  const done = applied.map((a) => (a.status === 'fulfilled' ? a.value : { deferred: [], events: [] }));
  const failures = applied.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
  for (const f of failures) log.error('record update failed', { error: (f.reason as Error)?.message });
  try {
    // in order of occurrence: what an earlier invocation could not deliver, this webhook's, the journey's
    await track(deps.config, [...done.flatMap((d) => d.deferred), ...events, ...done.flatMap((d) => d.events)], deps.deadline);
  } catch (err) {
    log.error('Segment tracking failed; asking the sender to retry', { error: (err as Error).message });
    throw new ApiError(503, 'tracking_unavailable', 'events could not be delivered to Segment; retry later');
  }
  // Deferred events are in Segment now: drop them from their records.
  await Promise.allSettled(done.map((d, i) => (d.deferred.length
    ? deps.store.clearDeferredEvents(groups[i][0].notificationId, d.deferred.map((e) => e.messageId))
    : undefined)));
  if (failures.length) throw new ApiError(503, 'state_unavailable', 'the notification record could not be updated; retry later');
}
