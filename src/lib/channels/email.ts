/**
 * Email through SendGrid: sending with open and click tracking, scheduling
 * with send_at and a batch id (at most 72 hours ahead), cancelling through
 * the batch, which errors refuse the address, and the translation of the
 * Event Webhook's batches.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mailService, sendgridClient } from '../clients/sendgrid';
import { type Content, displayName } from '../content';
import { messageId } from '../segment-messages';
import { badRequest } from '../http/errors';
import { ID_PATTERN, jsonArrayOf, type Params } from '../http/params';
import { stringsFor } from '../i18n';
import {
  type Addresses,
  type CancelResult,
  type ChannelProvider,
  ChannelRefused,
  type EmailAddress,
  type ProviderDeps,
  type ProviderEvent,
  type ScheduledCopy,
  type SendRequest,
  type Sent,
} from './provider';
import { EMAIL_WINDOW } from './windows';
import { escapeHtml } from '../html';

/**
 * What binds an email's events to its notification and user: an HMAC of `notificationId|userId`
 * under a key derived from AUTH_TOKEN, sent in the email's custom_args (so every Event Webhook
 * event carries it back) and checked before an event is credited to anyone. Without it, whoever
 * holds the webhook's Basic credentials could credit any user with engagement, or opt them out.
 * 72 bits, base64url: custom_args ride on every event of SendGrid's 768 KB batches (a 900-user campaign's
 * processed, delivered and open no longer fit one post with it; 800 users' do).
 */
export function emailBinding(authToken: string, notificationId: string, userId: string): string {
  return createHmac('sha256', bindingKey(authToken))
    .update(`${notificationId}|${userId}`)
    .digest('base64url')
    .slice(0, 12);
}

/** A binding as given against the one expected, in constant time (both are 12 characters when genuine). */
function sameBinding(given: string, expected: string): boolean {
  const [a, b] = [Buffer.from(given), Buffer.from(expected)];
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The binding's key, derived once per auth token (a batch checks thousands of events with it). */
let derived: { authToken: string; key: Buffer } | undefined;
function bindingKey(authToken: string): Buffer {
  if (derived?.authToken !== authToken)
    derived = { authToken, key: createHmac('sha256', authToken).update('sendgrid-custom-args-binding').digest() };
  return derived.key;
}

/**
 * The recipient's display name as SendGrid takes it: a comma or semicolon in it makes SendGrid
 * drop the mail after accepting it ("Suzuki, Taro"), and control characters have no place in a
 * header; both are removed.
 */
export function recipientName(content: Content): string | undefined {
  const clean = displayName(content)
    ?.replace(/[,;\p{Cc}]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clean || undefined;
}

/** The HTML part: the request's own, else the text, escaped, with its line breaks. */
export function htmlOf(content: Content): string {
  return content.html ?? `<p>${escapeHtml(content.message).replace(/\r?\n/g, '<br>')}</p>`;
}

/**
 * SendGrid's 400 naming the recipient's address means this address is refused; any other error of
 * a personalization (its subject, its custom args) says nothing about the address.
 */
function refusalOf(err: unknown, email: string): ChannelRefused | undefined {
  type Body = { errors?: Array<{ field?: string; message?: string }> };
  const body = (err as { response?: { body?: Body } })?.response?.body;
  const toError = body?.errors?.find((e) => /^personalizations\.\d+\.to(\.\d+\.email)?$/.test(e.field ?? ''));
  if (!toError) return undefined;
  const why = `invalid email address (${toError.message ?? 'rejected'})`;
  return new ChannelRefused('EMAIL', why, 'sendgrid-400', { invalid_email: email });
}

async function createBatchId(deps: ProviderDeps): Promise<string> {
  const client = await sendgridClient(deps.config, deps.upstream);
  const [, body] = await client.request({ method: 'POST', url: '/v3/mail/batch' });
  return (body as { batch_id: string }).batch_id;
}

async function send(deps: ProviderDeps, to: EmailAddress, req: SendRequest): Promise<Sent> {
  const { config } = deps;
  const { content } = req;
  const name = recipientName(content);
  const batchId = req.at ? await createBatchId(deps) : undefined;
  try {
    const [response] = await (await mailService(config, deps.upstream)).send({
      to: name ? { email: to.email, name } : to.email,
      from: config.sendgridFromEmail,
      subject: content.subject ?? stringsFor(content.locale).subject,
      text: content.message,
      html: htmlOf(content),
      // copied onto every Event Webhook event (so each one can be attributed), and so kept short: they
      // add up in SendGrid's 768 KB batches. `scheduled` tells a scheduled send's `processed` (it went
      // out: a step update) from an immediate one's (nothing new).
      customArgs: {
        notification_id: req.notificationId,
        user_id: req.userId,
        binding: emailBinding(config.authToken, req.notificationId, req.userId),
        ...(req.at ? { scheduled: '1' } : {}),
      },
      trackingSettings: { openTracking: { enable: true }, clickTracking: { enable: true, enableText: true } },
      ...(req.at ? { sendAt: Math.floor(req.at.getTime() / 1000), batchId } : {}),
    });
    const id = response.headers['x-message-id'];
    return { providerId: Array.isArray(id) ? id[0] : String(id ?? ''), batchId };
  } catch (err) {
    throw refusalOf(err, to.email) ?? err;
  }
}

/** Cancels the batch; a batch already cancelled counts as cancelled. */
async function cancel(deps: ProviderDeps, copy: ScheduledCopy): Promise<CancelResult | undefined> {
  if (!copy.batchId) return undefined;
  const client = await sendgridClient(deps.config, deps.upstream);
  try {
    await client.request({
      method: 'POST',
      url: '/v3/user/scheduled_sends',
      body: { batch_id: copy.batchId, status: 'cancel' },
    });
    return 'canceled';
  } catch (err) {
    const [, body] = await client
      .request({ method: 'GET', url: `/v3/user/scheduled_sends/${copy.batchId}` })
      .catch(() => [undefined, undefined]);
    if (Array.isArray(body) && body.some((b: { status?: string }) => b.status === 'cancel')) return 'canceled';
    throw err;
  }
}

function cannotSchedule(at: Date, now: Date): string | undefined {
  const ahead = at.getTime() - now.getTime();
  return ahead <= 0 || ahead > EMAIL_WINDOW.maxMs ? 'an email can be scheduled at most 72 hours ahead' : undefined;
}

export const emailProvider: ChannelProvider<EmailAddress> = {
  channel: 'EMAIL',
  addressOf: (a: Addresses) => (a.email ? { email: a.email } : undefined),
  send,
  cancel,
  cannotSchedule,
};

type SendgridEvent = Record<string, unknown>;

/** The batch as the runtime hands it over: a JSON array arrives as fields "0", "1", … */
export function sendgridBatchOf(params: Params): SendgridEvent[] {
  const batch = jsonArrayOf(params);
  if (batch.length === 0) throw badRequest('body', 'the body must be a JSON array of SendGrid events', 'invalid_body');
  return batch as SendgridEvent[];
}

export interface Skipped {
  not_ours: number;
  /** naming a notification and user without their binding (forged, or sent before bindings existed) */
  unbound: number;
  unknown_type: number;
  invalid: number;
  ignored: number;
}

const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** A SendGrid Unix timestamp as a date; anything else (a string, 1e300, a negative) is no date, never an error. */
function timeOf(v: unknown): Date | undefined {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 32503680000) return undefined; // up to year 3000
  return new Date(v * 1000);
}

/**
 * Every string SendGrid supplies is capped as it comes in: a bounce's `reason` is the receiving
 * server's text, of any length, and it is kept in the notification's record (a Sync document of
 * at most 16 KiB) and sent to Segment (32 KB per event). A clicked URL keeps 2,048 characters.
 */
const MAX_URL = 2048;
const MAX_TEXT = 512;
const capped = (v: unknown, max = MAX_TEXT) => {
  const text = str(v);
  return text && text.length > max ? `${text.slice(0, max)}…` : text;
};
const urlOf = (v: unknown) => capped(v, MAX_URL);

/** SendGrid event types and what they are; null: known, but nothing to act on. */
const KINDS: Record<string, ProviderEvent['kind'] | 'open' | null> = {
  processed: 'sent', // a scheduled email went out (an immediate one's changes nothing: ignored unread)
  deferred: null,
  delivered: 'delivered',
  bounce: 'failed',
  dropped: 'failed',
  blocked: 'failed',
  open: 'open', // a person's open, or a machine's
  click: 'clicked',
  spamreport: 'opted_out',
  unsubscribe: 'opted_out',
  group_unsubscribe: 'opted_out',
  group_resubscribe: 'opted_in',
};

/** An event's fields once it is known to be ours, of a known type, and bound to its notification and user. */
interface Checked {
  type: string;
  kind: (typeof KINDS)[string];
  eventId: string;
  notificationId: string;
  userId: string;
}

/** Why an event is skipped (by its count's name), or its fields. */
function checked(
  e: SendgridEvent,
  bindingOf: (notificationId: string, userId: string) => string,
): keyof Skipped | Checked {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'invalid';
  const type = str(e.event);
  const eventId = str(e.sg_event_id);
  const notificationId = str(e.notification_id);
  const userId = str(e.user_id);
  // ids name Sync documents and Segment users: what /notify could not have sent is not ours to trust
  if ((notificationId && !ID_PATTERN.test(notificationId)) || (userId && !ID_PATTERN.test(userId))) return 'invalid';
  if (!notificationId) return 'not_ours';
  if (!type || !(type in KINDS)) return 'unknown_type';
  if (!eventId || !userId) return 'invalid';
  const binding = str(e.binding);
  if (!binding || !sameBinding(binding, bindingOf(notificationId, userId))) return 'unbound';
  return { type, kind: KINDS[type], eventId, notificationId, userId };
}

/** A checked event as a provider event, with what Segment is told of it. */
function providerEventOf(e: SendgridEvent, c: Checked, kind: Exclude<Checked['kind'], null>): ProviderEvent {
  const { type, eventId, notificationId, userId } = c;
  const event: ProviderEvent = {
    kind: kind === 'open' ? (e.sg_machine_open === true ? 'machine_opened' : 'opened') : kind,
    channel: 'EMAIL',
    notificationId,
    who: { userId },
    providerId: capped(str(e.sg_message_id)?.split('.')[0], 64),
    eventId: messageId('sendgrid', eventId),
    at: timeOf(e.timestamp),
    details: { sendgrid_event: type, ...(kind === 'open' ? { machine_open: e.sg_machine_open === true } : {}) },
  };
  if (kind === 'failed') {
    event.error = capped(e.reason) ?? type;
    event.details = { ...event.details, reason: event.error, bounce_type: capped(e.type, 32) };
  }
  if (kind === 'clicked') event.details = { ...event.details, url: urlOf(e.url) };
  if (kind === 'opted_out' || kind === 'opted_in') {
    event.identifyId = messageId('sendgrid-identify', eventId);
    event.traits = { email_opted_out: kind === 'opted_out' };
  }
  return event;
}

/**
 * A batch as provider events (pure). Events without our notification_id, without the binding of
 * their notification and user, of a type we do not know, or with missing fields are skipped and
 * counted, never rejected: a 4xx would make SendGrid retry the whole batch for 24 hours.
 */
export function sendgridEvents(
  batch: SendgridEvent[],
  authToken: string,
): { events: ProviderEvent[]; skipped: Skipped } {
  const skipped: Skipped = { not_ours: 0, unbound: 0, unknown_type: 0, invalid: 0, ignored: 0 };
  const events: ProviderEvent[] = [];
  // one HMAC per notification and user, not per event: a campaign's batch holds many of each
  const bindings = new Map<string, string>();
  const bindingOf = (notificationId: string, userId: string) => {
    const pair = `${notificationId}|${userId}`;
    const known = bindings.get(pair);
    if (known !== undefined) return known;
    const b = emailBinding(authToken, notificationId, userId);
    bindings.set(pair, b);
    return b;
  };
  for (const e of batch) {
    const c = checked(e, bindingOf);
    if (typeof c === 'string') {
      skipped[c]++;
      continue;
    }
    const kind = c.kind;
    if (kind === null || kind === 'sent') skipped.ignored++; // nothing to tell Segment
    // nothing to do either, unless it is a scheduled send going out: no record is read for it
    if (kind === null || (kind === 'sent' && e.scheduled !== '1')) continue;
    events.push(providerEventOf(e, c, kind));
  }
  return { events, skipped };
}
