/**
 * /notify: read the profile and take the notification's lock concurrently,
 * route and plan, send the first step (falling back when a provider refuses
 * the channel), schedule the later steps of an escalation, then record and
 * track concurrently. A single notification waits on three upstream round
 * trips in sequence; an escalation adds one (its scheduled steps, in parallel).
 */
import { serviceBaseUrl } from '../callbacks';
import type { Channel } from '../channels';
import { readTraits } from '../clients/profiles';
import type { SegmentMessage } from '../clients/segment';
import { twilioClient } from '../clients/twilio';
import { identifyMessage, messageId, sentMessage, trackMessage } from '../events';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { ApiError } from '../http/errors';
import { sendOrSchedule, type Sent } from '../journey/actions';
import { type Plan, planJourney, quietExclusions, quietWindow, timezoneOf } from '../journey/plan';
import { log } from '../log';
import { type NotificationRecord, RecordStore, type Step } from '../store/records';
import { trackOrDefer } from '../tracking';
import { ChannelRefused } from './dispatch';
import { type NotifyInput, parseNotifyInput } from './input';
import { finalReason, type Route, route, traitNames } from './route';

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
  const code = (err as { code?: unknown }).code;
  const providerCode = typeof code === 'number' ? code : undefined;
  return new ApiError(
    502,
    'upstream_error',
    `the provider refused the send${providerCode ? ` (error ${providerCode})` : ''}`,
    undefined,
    providerCode ? { provider_code: providerCode } : undefined,
  );
}

export async function notify(req: EndpointRequest): Promise<Reply> {
  const { config, context } = req;
  const input = parseNotifyInput(req.params, config);
  const client = twilioClient(config, req.deadline);
  const store = new RecordStore(client, config);
  const baseUrl = serviceBaseUrl(config, context);
  const now = new Date();
  const pending: NotificationRecord = {
    notificationId: input.notificationId,
    userId: input.userId,
    locale: input.locale,
    createdAt: now.toISOString(),
    state: 'in_progress',
    steps: [],
  };

  // Stage 1, concurrently: the profile, the lock, and whether the contact record exists.
  const [profile, lock, contactExists] = await Promise.all([
    readTraits(config, input.userId, traitNames(config), req.deadline),
    store.createNotification(pending),
    input.phone ? store.readContact(input.phone).then(Boolean, () => undefined) : Promise.resolve(undefined),
  ]);
  if (lock === 'exists') return replayDuplicate(store, input.notificationId);
  if (profile.status === 'unavailable')
    log.warn('profile unavailable, routing without traits', { error: profile.error });

  const tz = timezoneOf(profile.traits, config);
  const qh = quietWindow(input, config);
  // A scheduled notification is routed for its own time (a call cannot be scheduled anyway).
  const excluded: Partial<Record<Channel, string>> = input.sendAt ? {} : quietExclusions(now, qh, tz);
  const quietSkipsCall = Boolean(excluded.CALL);
  const extraEvents: SegmentMessage[] = [];
  const refused = new Set<Channel>();
  let chosen: Route;
  let plan: Plan;
  let first: Sent;
  try {
    for (;;) {
      const routingInput = Array.isArray(input.escalation) ? { ...input, channel: undefined } : input;
      chosen = route(routingInput, profile, config, excluded);
      plan = planJourney(input, chosen, config, now, tz, qh);
      chosen.channel = plan.steps[0].channel;
      chosen.reason = finalReason(chosen, {
        explicitList: Array.isArray(input.escalation),
        refused: refused.size > 0,
        quietSkipsCall,
      });
      try {
        first = await sendOrSchedule(
          client,
          config,
          input,
          { channel: chosen.channel, phone: chosen.phone, email: chosen.email, baseUrl },
          plan.steps[0].at,
        );
        break;
      } catch (err) {
        if (!(err instanceof ChannelRefused)) throw err;
        if (input.channel) throw new ApiError(422, 'channel_refused', err.message, 'channel');
        log.warn('channel refused, falling back', {
          notification: input.notificationId,
          channel: err.channel,
          code: err.providerCode,
        });
        excluded[err.channel] = err.why;
        refused.add(err.channel);
        extraEvents.push(...refusalEvents(input, err));
      }
    }
  } catch (err) {
    // Nothing was sent: release the lock so a corrected retry can send.
    await store.deleteNotification(input.notificationId).catch(() => undefined);
    throw err instanceof ApiError ? err : upstreamError(err);
  }

  const steps = await scheduleLaterSteps(input, chosen, plan, first, { client, config, baseUrl });
  const scheduled = Boolean(plan.steps[0].at);
  const result: Record<string, unknown> = {
    notificationId: input.notificationId,
    userId: input.userId,
    channel: chosen.channel,
    reason: chosen.reason,
    status: scheduled ? 'scheduled' : 'sent',
    providerId: first.providerId,
    ...(scheduled ? { sendAt: plan.steps[0].at?.toISOString() } : {}),
    ...(steps.length > 1
      ? {
          steps: steps.map(({ channel, status, providerId, scheduledAt, error }) => ({
            channel,
            status,
            providerId,
            scheduledAt,
            error,
          })),
        }
      : {}),
    ...(Object.keys(plan.skipped).length ? { skipped: plan.skipped } : {}),
    ...(plan.quietHours ? { quietHours: plan.quietHours } : {}),
  };
  const events = [...extraEvents, ...sentEvents(input, chosen, steps)];
  const [tracked, stored] = await Promise.allSettled([
    trackOrDefer(config, store, input.notificationId, events, req.deadline),
    store.updateNotification(
      input.notificationId,
      (r) => {
        r.state = 'done';
        r.reason = chosen.reason;
        r.steps = steps;
        if (steps.length > 1) {
          r.escalateAfter = input.escalateAfter;
          r.content = {
            message: input.message,
            subject: input.subject,
            html: input.html,
            firstName: input.firstName,
            lastName: input.lastName,
            phone: chosen.phone,
            email: chosen.email,
            urgent: input.urgent,
            quietHours: qh?.text,
            timezone: tz,
          };
        }
        r.result = result;
        return true;
      },
      lock,
    ),
    chosen.phone && steps.some((s) => s.channel !== 'EMAIL')
      ? store.writeContact(
          chosen.phone,
          { userId: input.userId, notificationId: input.notificationId, updatedAt: now.toISOString() },
          chosen.phone === input.phone ? contactExists : undefined,
        )
      : Promise.resolve(),
  ]);
  if (stored.status === 'rejected')
    log.error('notification record not updated', {
      notification: input.notificationId,
      error: (stored.reason as Error).message,
    });
  const tracking = tracked.status === 'fulfilled' ? tracked.value : 'deferred';
  return { status: 200, json: { ...result, tracking } };
}

/** The record's steps: the first as sent or scheduled, later SMS/email scheduled now, later calls pending. */
async function scheduleLaterSteps(
  input: NotifyInput,
  chosen: Route,
  plan: Plan,
  first: Sent,
  deps: { client: ReturnType<typeof twilioClient>; config: EndpointRequest['config']; baseUrl: string },
): Promise<Step[]> {
  const at = new Date().toISOString();
  const [head, ...later] = plan.steps;
  const firstStep: Step = {
    channel: head.channel,
    status: head.at ? 'SCHEDULED' : 'SENT',
    providerId: first.providerId,
    scheduledAt: head.at?.toISOString(),
    batchId: first.batchId,
    updatedAt: at,
  };
  const laterSteps = await Promise.all(
    later.map(async (p): Promise<Step> => {
      const base = { channel: p.channel, scheduledAt: p.at?.toISOString(), updatedAt: at };
      if (p.channel === 'CALL') return { ...base, status: 'PENDING' };
      try {
        const sent = await sendOrSchedule(
          deps.client,
          deps.config,
          input,
          { channel: p.channel, phone: chosen.phone, email: chosen.email, baseUrl: deps.baseUrl },
          p.at,
        );
        return { ...base, status: 'SCHEDULED', providerId: sent.providerId, batchId: sent.batchId };
      } catch (err) {
        log.error('escalation step could not be scheduled', {
          notification: input.notificationId,
          channel: p.channel,
          error: (err as Error).message,
        });
        return { ...base, status: 'FAILED', error: err instanceof ChannelRefused ? err.why : 'could not be scheduled' };
      }
    }),
  );
  return [firstStep, ...laterSteps];
}

function sentEvents(input: NotifyInput, chosen: Route, steps: Step[]): SegmentMessage[] {
  const events: SegmentMessage[] = [
    identifyMessage({ userId: input.userId }, messageId('identify', input.notificationId), {
      phone: chosen.phone,
      email: chosen.email,
      firstName: input.firstName,
      lastName: input.lastName,
      language: input.locale,
    }),
  ];
  for (const s of steps) {
    const props = { reason: chosen.reason, provider_id: s.providerId, locale: input.locale };
    if (s.status === 'SENT') events.push(sentMessage(input.userId, input.notificationId, s.channel, props));
    if (s.status === 'SCHEDULED') {
      events.push(
        trackMessage(
          { userId: input.userId },
          'Notification Scheduled',
          messageId('scheduled', input.notificationId, s.channel),
          {
            channel: s.channel,
            notification_id: input.notificationId,
            ...props,
            send_at: s.scheduledAt,
          },
        ),
      );
    }
  }
  return events;
}

/** A refusal marks the channel unreachable for this user: an opt-out event, and the trait routing reads. */
function refusalEvents(input: NotifyInput, refusal: ChannelRefused): SegmentMessage[] {
  const events: SegmentMessage[] = [
    identifyMessage(
      { userId: input.userId },
      messageId('identify-refused', input.notificationId, refusal.channel),
      refusal.traits,
    ),
  ];
  if (refusal.optedOut) {
    events.unshift(
      trackMessage(
        { userId: input.userId },
        'Notification Opted Out',
        messageId('opted-out', input.notificationId, refusal.channel),
        {
          channel: refusal.channel,
          notification_id: input.notificationId,
          error_code: refusal.providerCode,
        },
      ),
    );
  }
  return events;
}
