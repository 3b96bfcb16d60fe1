/** /cancel and /notification: a notification's scheduled steps, cancelled or read. */
import { currentTime } from '../../clock';
import { wire } from '../deps';
import { DomainError } from '../../errors';
import { messageId, trackMessage } from '../../segment-messages';
import type { EndpointRequest, Reply } from '../../http/endpoint';
import { badRequest } from '../../http/errors';
import { idParam, stringParam } from '../../http/params';
import { groupPropsOf, type NotificationRecord } from '../../store/records';
import { trackOrDefer } from '../tracking';
import { type CancelOutcome, cancelJourney } from './progress';
import { stepView } from '../../journey/steps';

function notificationIdOf(req: EndpointRequest): string {
  return idParam(req.params, 'notificationId', { required: true });
}

const notFound = (id: string) => new DomainError('not_found', `no notification ${id}`, 'notificationId');

export async function cancel(req: EndpointRequest): Promise<Reply> {
  const id = notificationIdOf(req);
  const deps = wire(req);
  let outcome: CancelOutcome;
  try {
    outcome = await cancelJourney(deps, id);
  } catch (err) {
    const why = `a scheduled step could not be cancelled at the provider; retry /cancel (${(err as Error).message})`;
    throw new DomainError('upstream_error', why);
  }
  const { record, results, canceledNow } = outcome;
  if (!record) throw notFound(id);
  if (!results.some((s) => s.status === 'CANCELED')) {
    const error = {
      code: 'not_cancelable',
      message: 'nothing is pending: every step was already sent',
      field: 'notificationId',
    };
    return { status: 409, json: { error, notificationId: id, steps: results } };
  }
  const canceledEvent = trackMessage({ userId: record.userId }, 'Notification Canceled', messageId('canceled', id), {
    notification_id: id,
    canceled_channels: record.steps.filter((s) => s.status === 'CANCELED').map((s) => s.channel),
    ...groupPropsOf(record),
  });
  // the frequency cap's hold of a notification that will not go out is given back
  const cap = deps.config.frequencyCap;
  const [tracking] = await Promise.all([
    trackOrDefer(deps.config, deps.store, id, [canceledEvent], deps.upstream),
    cap ? deps.slots.cancel(record.userId, id, cap, currentTime()) : undefined,
  ]);
  return {
    status: 200,
    json: { notificationId: id, status: 'canceled', canceled: canceledNow, steps: results, tracking },
  };
}

/** The longest `wait` of /notification: Studio's HTTP widget gives up at 10 s, as Functions do. */
export const MAX_WAIT_SECONDS = 8;
const POLL_MS = 1000;

/**
 * What a caller branches on (Studio's split widget): engaged, failed (every step failed or was
 * canceled without an engagement), canceled (by /cancel), or pending (something may still land).
 */
/** What a notification came to, for a caller that branches (the Studio flow branches on each but pending). */
export const OUTCOMES = ['engaged', 'failed', 'canceled', 'suppressed', 'pending'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export function outcomeOf(r: NotificationRecord): Outcome {
  if (r.state === 'completed') return 'engaged';
  if (r.state === 'canceled') return 'canceled';
  if (r.state === 'suppressed') return 'suppressed';
  const over = r.steps.length > 0 && r.steps.every((s) => s.status === 'FAILED' || s.status === 'CANCELED');
  return r.state === 'done' && over ? 'failed' : 'pending';
}

function waitOf(req: EndpointRequest): number {
  const raw = stringParam(req.params, 'wait', {
    max: 2,
    pattern: /^\d{1,2}$/,
    patternHint: 'is whole seconds',
    scalar: true,
  });
  const seconds = raw === undefined ? 0 : Number(raw);
  if (seconds > MAX_WAIT_SECONDS) throw badRequest('wait', `wait is at most ${MAX_WAIT_SECONDS} seconds`);
  return seconds;
}

/**
 * GET /notification: the record. With `wait=N` (≤ 8 s) it answers as soon as the outcome is no
 * longer pending, or after N seconds: Studio has no timer widget, so a flow waits by asking.
 * One read a second of one document stays well inside Sync's 20 reads/s per object.
 */
export async function notification(req: EndpointRequest): Promise<Reply> {
  const id = notificationIdOf(req);
  const waitMs = waitOf(req) * 1000;
  const deps = wire(req);
  const until = Date.now() + waitMs;
  let found = await deps.store.readNotification(id);
  if (!found) throw notFound(id);
  while (
    outcomeOf(found.record) === 'pending' &&
    Date.now() + POLL_MS <= until &&
    deps.deadline.allows(POLL_MS, 1500)
  ) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    found = (await deps.store.readNotification(id)) ?? found;
  }
  const r = found.record;
  return {
    status: 200,
    json: {
      notificationId: r.notificationId,
      userId: r.userId,
      state: r.state,
      outcome: outcomeOf(r),
      reason: r.reason ?? null,
      policy: r.policy ?? null,
      group: r.group ?? null,
      ...(r.holdout ? { holdout: true } : {}),
      createdAt: r.createdAt,
      escalateAfter: r.escalateAfter ?? null,
      steps: r.steps.map(stepView),
    },
  };
}
