/**
 * /notify: read the profile and take the notification's lock concurrently,
 * route, send (falling back when a provider refuses the channel), then record
 * and track concurrently: at most three upstream round trips in sequence.
 */
import { serviceBaseUrl } from '../callbacks';
import type { Channel } from '../channels';
import { readTraits } from '../clients/profiles';
import { SegmentMessage, track, TrackingError } from '../clients/segment';
import { twilioClient } from '../clients/twilio';
import { identifyMessage, messageId, trackMessage } from '../events';
import { ApiError } from '../http/errors';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { log } from '../log';
import { NotificationRecord, RecordStore } from '../store/records';
import { ChannelRefused, dispatch } from './dispatch';
import { NotifyInput, parseNotifyInput } from './input';
import { Route, route, traitNames } from './route';

const DUPLICATE_WAIT_MS = [250, 500, 1000];

async function replayDuplicate(store: RecordStore, id: string): Promise<Reply> {
  for (const wait of [0, ...DUPLICATE_WAIT_MS]) {
    if (wait) await new Promise((r) => setTimeout(r, wait));
    const existing = await store.readNotification(id);
    if (existing?.record.result) return { status: 200, json: { ...existing.record.result, status: 'duplicate' } };
  }
  throw new ApiError(409, 'in_progress', `notification ${id} is already being sent`, 'notificationId');
}

function upstreamError(err: unknown): ApiError {
  const e = err as { status?: number; code?: number | string; message?: string };
  const code = typeof e.code === 'number' ? e.code : undefined;
  return new ApiError(502, 'upstream_error', `the provider refused the send${code ? ` (error ${code})` : ''}`, undefined, code ? { provider_code: code } : undefined);
}

export async function notify(req: EndpointRequest): Promise<Reply> {
  const { config, context } = req;
  const input = parseNotifyInput(req.params, config);
  const client = twilioClient(config);
  const store = new RecordStore(client, config);
  const now = new Date().toISOString();
  const pending: NotificationRecord = { notificationId: input.notificationId, userId: input.userId, locale: input.locale, createdAt: now, state: 'in_progress', steps: [] };

  const [profile, lock] = await Promise.all([readTraits(config, input.userId, traitNames(config)), store.createNotification(pending)]);
  if (lock === 'exists') return replayDuplicate(store, input.notificationId);
  if (profile.status === 'unavailable') log.warn('profile unavailable, routing without traits', { error: profile.error });

  const extraEvents: SegmentMessage[] = [];
  const excluded: Partial<Record<Channel, string>> = {};
  let chosen: Route | undefined;
  let providerId: string | undefined;
  try {
    for (;;) {
      chosen = route(input, profile, config, excluded);
      if (Object.keys(excluded).length > 0 && chosen.reason !== 'override') chosen.reason = 'fallback';
      try {
        providerId = await dispatch(client, config, input, { channel: chosen.channel, phone: chosen.phone, email: chosen.email, baseUrl: serviceBaseUrl(config, context) });
        break;
      } catch (err) {
        if (!(err instanceof ChannelRefused) || input.channel) throw err instanceof ChannelRefused ? new ApiError(422, 'channel_refused', err.message, 'channel') : err;
        log.warn('channel refused, falling back', { notification: input.notificationId, channel: err.channel, code: err.providerCode });
        excluded[err.channel] = err.why;
        if (err.optedOut) extraEvents.push(...optOutEvents(input, err));
      }
    }
  } catch (err) {
    // Nothing was sent: release the lock so a corrected retry can send.
    await store.deleteNotification(input.notificationId).catch(() => undefined);
    throw err instanceof ApiError ? err : upstreamError(err);
  }

  const result = { notificationId: input.notificationId, userId: input.userId, channel: chosen.channel, reason: chosen.reason, status: 'sent', providerId };
  const events = [...extraEvents, ...sentEvents(input, chosen, providerId)];
  const [tracked, stored] = await Promise.allSettled([
    track(config, events),
    store.updateNotification(input.notificationId, (r) => {
      r.state = 'done';
      r.reason = chosen!.reason;
      r.steps = [{ channel: chosen!.channel, status: 'SENT', providerId, updatedAt: new Date().toISOString() }];
      r.result = { ...result, tracking: 'ok' };
      return true;
    }),
    chosen.phone && chosen.channel !== 'EMAIL'
      ? store.writeContact(chosen.phone, { userId: input.userId, notificationId: input.notificationId, updatedAt: now })
      : Promise.resolve(),
  ]);
  if (stored.status === 'rejected') log.error('notification record not updated', { notification: input.notificationId, error: (stored.reason as Error).message });
  const tracking = tracked.status === 'fulfilled' ? 'ok' : 'deferred';
  if (tracked.status === 'rejected') log.error('Segment tracking deferred', { notification: input.notificationId, error: (tracked.reason as TrackingError).message });
  return { status: 200, json: { ...result, tracking } };
}

function sentEvents(input: NotifyInput, chosen: Route, providerId: string): SegmentMessage[] {
  return [
    identifyMessage(input.userId, messageId('identify', input.notificationId), {
      phone: chosen.phone,
      email: chosen.email,
      firstName: input.firstName,
      lastName: input.lastName,
      language: input.locale,
    }),
    trackMessage({ userId: input.userId }, 'Notification Sent', messageId('sent', input.notificationId, chosen.channel), {
      channel: chosen.channel,
      reason: chosen.reason,
      notification_id: input.notificationId,
      provider_id: providerId,
      locale: input.locale,
    }),
  ];
}

function optOutEvents(input: NotifyInput, refusal: ChannelRefused): SegmentMessage[] {
  return [
    trackMessage({ userId: input.userId }, 'Notification Opted Out', messageId('opted-out', input.notificationId, refusal.channel), {
      channel: refusal.channel,
      notification_id: input.notificationId,
      error_code: refusal.providerCode,
    }),
    identifyMessage(input.userId, messageId('identify-opt-out', input.notificationId), { sms_opted_out: true }),
  ];
}
