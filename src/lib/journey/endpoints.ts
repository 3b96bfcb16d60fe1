/** /cancel and /notification: a notification's scheduled steps, cancelled or read. */
import { messageId, trackMessage } from '../events';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { ApiError } from '../http/errors';
import { idParam } from '../notify/input';
import { journeyDeps } from '../webhooks/common';
import { trackOrDefer } from '../tracking';
import { cancelJourney } from './progress';

function notificationIdOf(req: EndpointRequest): string {
  return idParam(req.params, 'notificationId', { required: true });
}

const notFound = (id: string) => new ApiError(404, 'not_found', `no notification ${id}`, 'notificationId');

export async function cancel(req: EndpointRequest): Promise<Reply> {
  const id = notificationIdOf(req);
  const deps = journeyDeps(req);
  let outcome: Awaited<ReturnType<typeof cancelJourney>>;
  try {
    outcome = await cancelJourney(deps, id);
  } catch (err) {
    throw new ApiError(
      502,
      'upstream_error',
      `a scheduled step could not be cancelled at the provider; retry /cancel (${(err as Error).message})`,
    );
  }
  const { record, results, canceledNow } = outcome;
  if (!record) throw notFound(id);
  if (!results.some((s) => s.status === 'CANCELED')) {
    return {
      status: 409,
      json: {
        error: {
          code: 'not_cancelable',
          message: 'nothing is pending: every step was already sent',
          field: 'notificationId',
        },
        notificationId: id,
        steps: results,
      },
    };
  }
  const canceledEvent = trackMessage({ userId: record.userId }, 'Notification Canceled', messageId('canceled', id), {
    notification_id: id,
    canceled_channels: record.steps.filter((s) => s.status === 'CANCELED').map((s) => s.channel),
  });
  const tracking = await trackOrDefer(deps.config, deps.store, id, [canceledEvent], deps.deadline);
  return {
    status: 200,
    json: { notificationId: id, status: 'canceled', canceled: canceledNow, steps: results, tracking },
  };
}

export async function notification(req: EndpointRequest): Promise<Reply> {
  const id = notificationIdOf(req);
  const found = await journeyDeps(req).store.readNotification(id);
  if (!found) throw notFound(id);
  const r = found.record;
  return {
    status: 200,
    json: {
      notificationId: r.notificationId,
      userId: r.userId,
      state: r.state,
      reason: r.reason ?? null,
      createdAt: r.createdAt,
      escalateAfter: r.escalateAfter ?? null,
      steps: r.steps.map((s) => ({
        channel: s.channel,
        status: s.status,
        providerId: s.providerId ?? null,
        scheduledAt: s.scheduledAt ?? null,
        updatedAt: s.updatedAt,
        error: s.error ?? null,
        escalatedFrom: s.escalatedFrom ?? null,
        cause: s.cause ?? null,
      })),
    },
  };
}
