/** /cancel and /notification: a notification's scheduled steps, cancelled or read. */
import { wire } from '../deps';
import { DomainError } from '../errors';
import { messageId, trackMessage } from '../events';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { idParam } from '../http/params';
import { trackOrDefer } from '../tracking';
import { type CancelOutcome, cancelJourney } from './progress';
import { stepView } from './steps';

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
  });
  const tracking = await trackOrDefer(deps.config, deps.store, id, [canceledEvent], deps.upstream);
  return {
    status: 200,
    json: { notificationId: id, status: 'canceled', canceled: canceledNow, steps: results, tracking },
  };
}

export async function notification(req: EndpointRequest): Promise<Reply> {
  const id = notificationIdOf(req);
  const found = await wire(req).store.readNotification(id);
  if (!found) throw notFound(id);
  const r = found.record;
  return {
    status: 200,
    json: {
      notificationId: r.notificationId,
      userId: r.userId,
      state: r.state,
      reason: r.reason ?? null,
      policy: r.policy ?? null,
      createdAt: r.createdAt,
      escalateAfter: r.escalateAfter ?? null,
      steps: r.steps.map(stepView),
    },
  };
}
