/** What every engagement webhook does last: advance the records (with journey rules), then track. */
import { serviceBaseUrl } from '../callbacks';
import { type SegmentMessage, track } from '../clients/segment';
import { twilioClient } from '../clients/twilio';
import type { EndpointRequest } from '../http/endpoint';
import { ApiError } from '../http/errors';
import { applyUpdates, type JourneyDeps, type StepUpdate } from '../journey/progress';
import { log } from '../log';
import { RecordStore } from '../store/records';

export type { StepUpdate };

export function journeyDeps(req: EndpointRequest): JourneyDeps {
  const client = twilioClient(req.config, req.deadline);
  return {
    client,
    deadline: req.deadline,
    config: req.config,
    store: new RecordStore(client, req.config),
    baseUrl: serviceBaseUrl(req.config, req.context),
  };
}

/** Sync answers 429 to bursts: a batch touching many notifications updates at most this many at once. */
const SYNC_CONCURRENCY = 16;

/** Promise.allSettled over `items`, with at most `limit` of them in flight. */
export async function settleLimited<T, R>(
  items: T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason) => ({ status: 'rejected' as const, reason }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Keeps undelivered events in their notification records as well, for senders
 * that do not retry (Twilio documents retry overrides for Voice callbacks): the
 * next callback of the notification delivers them, deduplicated by messageId.
 */
async function deferByNotification(deps: JourneyDeps, events: SegmentMessage[]): Promise<void> {
  const byNotification = new Map<string, SegmentMessage[]>();
  for (const e of events) {
    const id = notificationOf(e);
    if (id) byNotification.set(id, [...(byNotification.get(id) ?? []), e]);
  }
  await Promise.allSettled([...byNotification].map(([id, list]) => deps.store.deferEvents(id, list)));
}

const notificationOf = (e: SegmentMessage) =>
  typeof e.properties?.notification_id === 'string' ? e.properties.notification_id : undefined;

/**
 * Applies the record updates (one read-modify-write per notification, with the
 * journey transitions they cause), then tracks the webhook's events and the
 * journey's in one batch. When Segment or Sync cannot take them the webhook
 * answers 503, so Twilio or SendGrid retry; retried events carry the same
 * messageIds and retried transitions change nothing.
 */
export async function finish(deps: JourneyDeps, events: SegmentMessage[], updates: StepUpdate[]): Promise<void> {
  // Every notification the webhook concerns, with its updates (possibly none: its record may hold deferred events).
  const byNotification = new Map<string, StepUpdate[]>();
  for (const e of events) {
    const id = notificationOf(e);
    if (id) byNotification.set(id, byNotification.get(id) ?? []);
  }
  for (const u of updates) byNotification.set(u.notificationId, [...(byNotification.get(u.notificationId) ?? []), u]);
  const ids = [...byNotification.keys()];
  const applied = await settleLimited(ids, SYNC_CONCURRENCY, (id) => applyUpdates(deps, id, byNotification.get(id)!));
  const done = applied.map((a) => (a.status === 'fulfilled' ? a.value : { deferred: [], events: [] }));
  const failures = applied.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
  for (const f of failures) log.error('record update failed', { error: (f.reason as Error)?.message });
  // in order of occurrence: what an earlier invocation could not deliver, this webhook's, the journey's
  const all = [...done.flatMap((d) => d.deferred), ...events, ...done.flatMap((d) => d.events)];
  try {
    await track(deps.config, all, deps.deadline);
  } catch (err) {
    log.error('Segment tracking failed; asking the sender to retry', { error: (err as Error).message });
    await deferByNotification(deps, all);
    throw new ApiError(503, 'tracking_unavailable', 'events could not be delivered to Segment; retry later');
  }
  // Deferred events are in Segment now: drop them from their records.
  await Promise.allSettled(
    done.map((d, i) =>
      d.deferred.length
        ? deps.store.clearDeferredEvents(
            ids[i],
            d.deferred.map((e) => e.messageId),
          )
        : undefined,
    ),
  );
  if (failures.length)
    throw new ApiError(503, 'state_unavailable', 'the notification record could not be updated; retry later');
}
