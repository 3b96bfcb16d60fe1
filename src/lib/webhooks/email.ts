/**
 * SendGrid Event Webhook. The whole batch is handled: every event of ours
 * becomes Segment events (Apple Mail machine opens never count as
 * engagement); events without our notification_id, of a type we do not know,
 * or with missing fields are skipped and counted, never rejected, because a
 * 4xx would make SendGrid retry the whole batch for 24 hours.
 */
import type { SegmentMessage } from '../clients/segment';
import { engagedMessage, identifyMessage, messageId, trackMessage } from '../events';
import { requireBasicAuth } from '../http/auth';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { badRequest } from '../http/errors';
import type { Params } from '../http/params';
import { finish, journeyDeps, type StepUpdate } from './common';

type SendgridEvent = Record<string, unknown>;

const KNOWN = new Set([
  'processed',
  'deferred',
  'delivered',
  'bounce',
  'dropped',
  'blocked',
  'open',
  'click',
  'spamreport',
  'unsubscribe',
  'group_unsubscribe',
  'group_resubscribe',
]);

/** The batch as the runtime hands it over: a JSON array arrives as fields "0", "1", … */
export function eventsOf(params: Params): SendgridEvent[] {
  const keys = Object.keys(params)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b));
  if (keys.length === 0) throw badRequest('body', 'the body must be a JSON array of SendGrid events', 'invalid_body');
  return keys.map((k) => params[k] as SendgridEvent);
}

export interface Outcome {
  events: SegmentMessage[];
  updates: StepUpdate[];
  skipped: { not_ours: number; unknown_type: number; invalid: number; ignored: number };
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** Turns a batch into Segment events and record updates (pure: no I/O). */
export function translate(batch: SendgridEvent[]): Outcome {
  const out: Outcome = { events: [], updates: [], skipped: { not_ours: 0, unknown_type: 0, invalid: 0, ignored: 0 } };
  for (const e of batch) {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) {
      out.skipped.invalid++;
      continue;
    }
    const type = str(e.event);
    const eventId = str(e.sg_event_id);
    const notificationId = str(e.notification_id);
    const userId = str(e.user_id);
    if (!notificationId) {
      out.skipped.not_ours++;
      continue;
    }
    if (!type || !KNOWN.has(type)) {
      out.skipped.unknown_type++;
      continue;
    }
    if (!eventId || !userId) {
      out.skipped.invalid++;
      continue;
    }
    const at = typeof e.timestamp === 'number' ? new Date(e.timestamp * 1000) : undefined;
    const who = { userId };
    const id = messageId('sendgrid', eventId);
    const props = {
      channel: 'EMAIL',
      notification_id: notificationId,
      provider_id: str(e.sg_message_id)?.split('.')[0],
      sendgrid_event: type,
    };
    const step = (status: StepUpdate['status'], error?: string) =>
      out.updates.push({ notificationId, channel: 'EMAIL', status, error });
    switch (type) {
      case 'processed':
        step('SENT'); // a scheduled email went out
        out.skipped.ignored++;
        break;
      case 'delivered':
        out.events.push(trackMessage(who, 'Notification Delivered', id, props, at));
        step('DELIVERED');
        break;
      case 'bounce':
      case 'dropped':
      case 'blocked': {
        const reason = str(e.reason) ?? type;
        out.events.push(
          trackMessage(who, 'Notification Failed', id, { ...props, reason, bounce_type: str(e.type) }, at),
        );
        step('FAILED', reason);
        break;
      }
      case 'open':
        if (e.sg_machine_open === true) {
          out.events.push(trackMessage(who, 'Notification Opened', id, { ...props, machine_open: true }, at));
        } else {
          out.events.push(
            trackMessage(who, 'Notification Opened', id, { ...props, machine_open: false }, at),
            engagedMessage(userId, notificationId, 'EMAIL', 'open', at),
          );
          step('COMPLETED');
        }
        break;
      case 'click':
        out.events.push(
          trackMessage(who, 'Notification Clicked', id, { ...props, url: str(e.url) }, at),
          engagedMessage(userId, notificationId, 'EMAIL', 'click', at),
        );
        step('COMPLETED');
        break;
      case 'spamreport':
      case 'unsubscribe':
      case 'group_unsubscribe':
        out.events.push(
          trackMessage(who, 'Notification Opted Out', id, props, at),
          identifyMessage(who, messageId('sendgrid-identify', eventId), { email_opted_out: true }),
        );
        break;
      case 'group_resubscribe':
        out.events.push(
          trackMessage(who, 'Notification Opted In', id, props, at),
          identifyMessage(who, messageId('sendgrid-identify', eventId), { email_opted_out: false }),
        );
        break;
      default:
        out.skipped.ignored++; // processed, deferred: nothing to tell Segment
    }
  }
  return out;
}

export async function emailEvents(req: EndpointRequest): Promise<Reply> {
  requireBasicAuth(req);
  const batch = eventsOf(req.params);
  const outcome = translate(batch);
  await finish(journeyDeps(req), outcome.events, outcome.updates);
  return { status: 200, json: { received: batch.length, tracked: outcome.events.length, skipped: outcome.skipped } };
}
