/**
 * SMS through Twilio Programmable Messaging: everything about the channel in
 * one place. Sending (from the Messaging Service when configured, else from
 * TWILIO_PHONE_NUMBER), Message Scheduling and its window, cancelling, which
 * Twilio errors mean "this recipient cannot get SMS", segment counting, and
 * the translation of status callbacks and inbound messages.
 */
import { optOutTrait } from '../channel-list';
import { callbackUrl, contextFromParams, withRetries } from '../http/callback-urls';
import { twilioErrorCode } from '../clients/twilio';
import type { Config } from '../config';
import { DomainError } from '../errors';
import { type Identity, messageId, phoneIdentity } from '../segment-messages';
import { badRequest } from '../http/errors';
import { type Params, stringParam } from '../http/params';
import {
  type Addresses,
  type CancelResult,
  type ChannelProvider,
  ChannelRefused,
  type PhoneAddress,
  type ProviderDeps,
  type ProviderEvent,
  type ScheduledCopy,
  type SendRequest,
  type Sent,
} from './provider';
import { SMS_WINDOW } from './windows';

type RefusalTrait = 'sms_opted_out' | 'invalid_phone' | 'sms_incapable_phone';
/** The trait that names a number with no WhatsApp account (63003): WhatsApp is not tried on it again. */
export const WHATSAPP_INCAPABLE_TRAIT = 'whatsapp_incapable_phone';

/** Twilio error codes that mean "this recipient cannot get SMS" (alsoCall: nor a call). */
export const TWILIO_REFUSALS: Record<number, { why: string; trait: RefusalTrait; alsoCall?: boolean }> = {
  21610: { why: 'recipient opted out of SMS (21610)', trait: 'sms_opted_out' },
  21211: { why: 'invalid phone number (21211)', trait: 'invalid_phone', alsoCall: true },
  21614: { why: 'number cannot receive SMS (21614)', trait: 'sms_incapable_phone' },
  21217: { why: 'invalid phone number (21217)', trait: 'invalid_phone', alsoCall: true },
};

/**
 * The refusal a Twilio error means for `channel` (SMS or CALL), if any.
 * Refusal traits name the number they apply to, so a new number is tried again.
 */
export function twilioRefusal(channel: 'SMS' | 'CALL', err: unknown, phone: string): ChannelRefused | undefined {
  const code = twilioErrorCode(err);
  const refusal = code === undefined ? undefined : TWILIO_REFUSALS[code];
  if (code === undefined || !refusal || (channel === 'CALL' && !refusal.alsoCall)) return undefined;
  const optedOut = refusal.trait === 'sms_opted_out';
  return new ChannelRefused(channel, refusal.why, code, { [refusal.trait]: optedOut ? true : phone }, optedOut);
}

export interface SmsSize {
  segments: number;
  encoding: string;
}

/** sms-segments-calculator, loaded at the first SMS body counted (a status callback never counts one) */
let segmentsModule: typeof import('sms-segments-calculator') | undefined;

/** How Twilio bills a body: GSM-7 or UCS-2 (Japanese: 70 characters in one segment, 67 each when split). */
export function segmentsOf(body: string): SmsSize {
  segmentsModule ??= require('sms-segments-calculator') as typeof import('sms-segments-calculator');
  const m = new segmentsModule.SegmentedMessage(body, 'auto');
  return { segments: m.segmentsCount, encoding: m.encodingName };
}

/**
 * SMS_MAX_SEGMENTS: a warning when a body needs more segments, or with
 * SMS_MAX_SEGMENTS_STRICT a refusal naming the message (nothing is sent).
 */
export function smsSizeWarning(
  { segments, encoding }: SmsSize,
  limits: Pick<Config, 'smsMaxSegments' | 'smsMaxSegmentsStrict'>,
): string | undefined {
  if (segments <= limits.smsMaxSegments) return undefined;
  const why = `the SMS body needs ${segments} segments (${encoding}); SMS_MAX_SEGMENTS is ${limits.smsMaxSegments}`;
  if (limits.smsMaxSegmentsStrict) throw new DomainError('too_many_segments', why, 'message');
  return why;
}

async function send(deps: ProviderDeps, to: PhoneAddress, req: SendRequest): Promise<Sent> {
  const { client, config } = deps;
  const sender = config.messagingServiceSid
    ? { messagingServiceSid: config.messagingServiceSid }
    : { from: config.twilioPhoneNumber };
  const schedule = req.at ? { scheduleType: 'fixed' as const, sendAt: req.at } : {};
  const ctx = { notificationId: req.notificationId, userId: req.userId, channel: 'SMS' as const };
  try {
    const message = await client.messages.create({
      to: to.phone,
      body: req.content.message,
      statusCallback: withRetries(callbackUrl(req.baseUrl, '/sms/status', ctx)),
      ...sender,
      ...schedule,
    });
    return { providerId: message.sid };
  } catch (err) {
    throw twilioRefusal('SMS', err, to.phone) ?? err;
  }
}

/** Idempotent: a message already canceled counts as canceled, one already sent as too late. */
async function cancel(deps: ProviderDeps, copy: ScheduledCopy): Promise<CancelResult | undefined> {
  const sid = copy.providerId;
  if (!sid) return undefined;
  try {
    await deps.client.messages(sid).update({ status: 'canceled' });
    return 'canceled';
  } catch (err) {
    const status = (await deps.client.messages(sid).fetch()).status;
    if (status === 'canceled') return 'canceled';
    if (status === 'scheduled') throw err;
    return 'too_late';
  }
}

/**
 * Why Twilio's Message Scheduling cannot take `at`, for SMS and WhatsApp alike: it needs a Messaging
 * Service, and a time in SMS_WINDOW. `says` words the refusal for the channel.
 */
export function messageSchedulingProblem(
  at: Date,
  now: Date,
  config: Config,
  says: { noService: string; outOfWindow: string },
): string | undefined {
  const ahead = at.getTime() - now.getTime();
  if (!config.messagingServiceSid) return says.noService;
  if (ahead < SMS_WINDOW.minMs || ahead > SMS_WINDOW.maxMs) return says.outOfWindow;
  return undefined;
}

const cannotSchedule = (at: Date, now: Date, config: Config) =>
  messageSchedulingProblem(at, now, config, {
    noService: 'scheduled SMS need a Messaging Service (set MESSAGING_SERVICE_SID)',
    outOfWindow: 'an SMS can be scheduled more than 15 minutes and at most 35 days ahead',
  });

export const smsProvider: ChannelProvider<PhoneAddress> = {
  channel: 'SMS',
  addressOf: (a: Addresses) => (a.phone ? { phone: a.phone } : undefined),
  send,
  cancel,
  cannotSchedule,
  earliestSchedule: (now: Date) => new Date(now.getTime() + SMS_WINDOW.minMs),
};

const SID = /^(SM|MM)[0-9a-f]{32}$/;
const FAILED = new Set(['undelivered', 'failed']);

const messageSid = (params: Params) =>
  stringParam(params, 'MessageSid', { required: true, pattern: SID, patternHint: 'must be a Message SID' });

/** The Messaging channel an address is on: `whatsapp:+E164` is WhatsApp, a bare number SMS. */
export const messagingChannelOf = (address: string | undefined): 'SMS' | 'WHATSAPP' =>
  address?.startsWith('whatsapp:') ? 'WHATSAPP' : 'SMS';

/**
 * A message status callback (SMS or WhatsApp: both come to /sms/status), as provider events (none
 * for statuses nobody acts on). WhatsApp's `read` is engagement only with `readEngages`.
 */
export function smsStatusEvents(
  params: Params,
  opts: { readEngages?: boolean } = {},
): { status: string; events: ProviderEvent[] } {
  const sid = messageSid(params);
  const status = stringParam(params, 'MessageStatus', { required: true, max: 32 });
  const ctx = contextFromParams(params);
  if (!ctx) throw badRequest('notificationId', 'the callback URL carries no notification context');
  const errorCode = stringParam(params, 'ErrorCode', { max: 10 });
  const to = stringParam(params, 'To', { max: 40 });
  const channel = messagingChannelOf(to);
  const base = {
    channel,
    notificationId: ctx.notificationId,
    who: { userId: ctx.userId },
    providerId: sid,
    eventId: messageId('sms-status', sid, status),
    details: { status },
  };
  const events: ProviderEvent[] = [];
  if (status === 'sent') events.push({ ...base, kind: 'sent' });
  else if (status === 'delivered') events.push({ ...base, kind: 'delivered' });
  else if (status === 'read' && channel === 'WHATSAPP')
    events.push({ ...base, kind: opts.readEngages ? 'read_engaged' : 'read', eventId: messageId('wa-read', sid) });
  else if (FAILED.has(status)) {
    const error = errorCode ? `Twilio error ${errorCode}` : status;
    // a number with no WhatsApp account (WhatsApp tells it when the message goes out): a trait naming
    // the number keeps WhatsApp out of its reach, as a refusal at send time does (whatsapp.ts)
    const noWhatsApp =
      errorCode === '63003' && channel === 'WHATSAPP' && to
        ? {
            identifyId: messageId('wa-incapable-identify', sid),
            traits: { [WHATSAPP_INCAPABLE_TRAIT]: to.slice('whatsapp:'.length) },
          }
        : {};
    events.push({ ...base, kind: 'failed', error, details: { status, error_code: errorCode }, ...noWhatsApp });
    if (errorCode === '21610' && channel === 'SMS') {
      events.push({
        ...base,
        kind: 'opted_out',
        eventId: messageId('sms-opt-out', sid),
        identifyId: messageId('sms-opt-out-identify', sid),
        details: { error_code: errorCode },
        traits: { sms_opted_out: true },
      });
    }
  }
  return { status, events };
}

export interface InboundSms {
  sid: string;
  /** SMS or WhatsApp (a `whatsapp:` sender) */
  channel: 'SMS' | 'WHATSAPP';
  /** the sender's number, E.164 (without `whatsapp:`) */
  from: string;
  body: string;
  /** STOP, START or HELP: Twilio's Advanced Opt-Out for SMS; for WhatsApp, the keyword itself */
  optOutType?: string;
  /** a WhatsApp quick-reply button pressed */
  buttonPayload?: string;
}

/** WhatsApp has no Advanced Opt-Out: its keywords are read here (SMS's are Twilio's). */
const WHATSAPP_KEYWORDS: Record<string, string> = {
  STOP: 'STOP',
  UNSUBSCRIBE: 'STOP',
  停止: 'STOP',
  配信停止: 'STOP',
  START: 'START',
  再開: 'START',
};

export function inboundSmsOf(params: Params): InboundSms {
  const rawFrom = stringParam(params, 'From', { required: true, max: 40 });
  const channel = messagingChannelOf(rawFrom);
  const body = stringParam(params, 'Body', { max: 1600 }) ?? '';
  const buttonPayload = stringParam(params, 'ButtonPayload', { max: 256 });
  return {
    sid: messageSid(params),
    channel,
    from: rawFrom.replace(/^whatsapp:/, ''),
    body,
    optOutType:
      channel === 'WHATSAPP' && !buttonPayload
        ? WHATSAPP_KEYWORDS[body.trim().toUpperCase()]
        : stringParam(params, 'OptOutType', { max: 10 })?.toUpperCase(),
    ...(buttonPayload ? { buttonPayload } : {}),
  };
}

/**
 * An inbound message as provider events: an opt-out or opt-in keyword, or a
 * reply, credited to the latest notification sent to that number when known.
 */
export function inboundSmsEvents(
  m: InboundSms,
  contact: { userId: string; notificationId: string } | undefined,
  opts: { replyText?: boolean; identityKey: string },
): ProviderEvent[] {
  const who: Identity = contact ? { userId: contact.userId } : phoneIdentity(m.from, opts.identityKey);
  const base = { channel: m.channel, notificationId: contact?.notificationId, who, providerId: m.sid };
  // a STOP on WhatsApp opts out of WhatsApp only
  const traits = (optedOut: boolean) => ({ [optOutTrait(m.channel) as string]: optedOut });
  const identifyId = messageId('sms-opt-identify', m.sid);
  switch (m.optOutType) {
    case 'STOP':
      return [
        { ...base, kind: 'opted_out', eventId: messageId('sms-opt-out', m.sid), identifyId, traits: traits(true) },
      ];
    case 'START':
      return [
        { ...base, kind: 'opted_in', eventId: messageId('sms-opt-in', m.sid), identifyId, traits: traits(false) },
      ];
    case 'HELP':
      return [];
    default:
      // what a customer wrote is theirs: it goes to Segment only when TRACK_REPLY_TEXT says so
      return [
        {
          ...base,
          kind: 'replied',
          eventId: messageId('sms-reply', m.sid),
          details: {
            ...(opts.replyText ? { reply: m.body } : {}),
            ...(m.buttonPayload ? { button: m.buttonPayload } : {}),
          },
        },
      ];
  }
}
