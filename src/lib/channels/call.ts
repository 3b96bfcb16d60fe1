/**
 * Voice calls through Twilio: the call's TwiML (the message in the
 * notification's language, then "press 1 to confirm"), placing the call with
 * answering-machine detection, which Twilio errors refuse the number, and the
 * translation of call status callbacks and the Gather action. Calls cannot be
 * scheduled (Twilio has no call scheduling).
 */
import twilio from 'twilio';
import { type CallbackContext, callbackUrl, contextFromParams, withRetries } from '../http/callback-urls';
import type { Config } from '../config';
import { messageId } from '../segment-messages';
import { badRequest } from '../http/errors';
import { type Params, stringParam } from '../http/params';
import { stringsFor } from '../i18n';
import {
  type Addresses,
  type ChannelProvider,
  ChannelRefused,
  type PhoneAddress,
  type ProviderDeps,
  type ProviderEvent,
  type SendRequest,
  type Sent,
} from './provider';
import { twilioRefusal } from './sms';

type SayAttributes = Parameters<InstanceType<typeof twilio.twiml.VoiceResponse>['say']>[0];

/** The <Say> attributes for a language: VOICE_JA / VOICE_EN when configured, else the built-in voice. */
export function sayAttributes(locale: string, config: Pick<Config, 'voices'>): SayAttributes {
  const strings = stringsFor(locale);
  const voice = config.voices[strings.language] ?? strings.voice;
  return { language: locale, ...(voice ? { voice } : {}) } as SayAttributes;
}

/** The call's TwiML: the message in the notification's language, then "press 1 to confirm". */
export function callTwiml(opts: { message: string; locale: string; gatherUrl: string; say: SayAttributes }): string {
  const strings = stringsFor(opts.locale);
  const response = new twilio.twiml.VoiceResponse();
  response.say(opts.say, opts.message);
  const gather = response.gather({ numDigits: 1, action: opts.gatherUrl, method: 'POST', timeout: 8 });
  gather.say(opts.say, strings.pressOne);
  response.say(opts.say, strings.noInput);
  return response.toString();
}

/**
 * Speaking rates of the built-in and neural voices, measured as characters per second of speech:
 * Japanese (kana and kanji) about 8, alphabetic languages about 14 (150 words a minute).
 */
const CHARS_PER_SECOND = { ja: 8, en: 14 } as const;
/** the Gather's timeout (callTwiml) */
const GATHER_SECONDS = 8;

/**
 * The minutes a call of this message is billed for, expected: the message, "press 1", the Gather's
 * wait and the closing line spoken once, rounded up to whole minutes (Twilio bills each started
 * minute), at least one. An estimate: a person who presses 1 early makes it shorter.
 */
export function expectedCallMinutes(message: string, locale: string): number {
  const strings = stringsFor(locale);
  const rate = CHARS_PER_SECOND[strings.language];
  const spoken = [...message].length + [...strings.pressOne].length + [...strings.noInput].length;
  return Math.max(1, Math.ceil((spoken / rate + GATHER_SECONDS) / 60));
}

/** What the Gather action answers: thanks for a 1, goodbye otherwise. */
export function gatherReplyTwiml(confirmed: boolean, locale: string, config: Pick<Config, 'voices'>): string {
  const strings = stringsFor(locale);
  const response = new twilio.twiml.VoiceResponse();
  response.say(sayAttributes(locale, config), confirmed ? strings.thanks : strings.goodbye);
  response.hangup();
  return response.toString();
}

export const CALL_STATUS_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];
/** Twilio's limit on the Twiml parameter of a call */
export const MAX_TWIML = 4000;

async function send(deps: ProviderDeps, to: PhoneAddress, req: SendRequest): Promise<Sent> {
  const { client, config } = deps;
  const { locale, message } = req.content;
  const ctx: CallbackContext = { notificationId: req.notificationId, userId: req.userId, channel: 'CALL' };
  const gatherUrl = withRetries(callbackUrl(req.baseUrl, '/voice/gather', { ...ctx, locale }));
  // built and measured before anything is sent: Twilio takes at most 4,000 characters of Twiml
  const twiml = callTwiml({ message, locale, gatherUrl, say: sayAttributes(locale, config) });
  if (twiml.length > MAX_TWIML) {
    const why = `the message is too long to be spoken in a call (its TwiML has ${twiml.length} characters; Twilio takes ${MAX_TWIML})`;
    throw new ChannelRefused('CALL', why, 'twiml-too-long', {});
  }
  try {
    const call = await client.calls.create({
      to: to.phone,
      // checked by routing: no call is routed without a number to call from
      from: config.twilioPhoneNumber ?? '',
      twiml,
      statusCallback: withRetries(callbackUrl(req.baseUrl, '/voice/status', ctx)),
      statusCallbackMethod: 'POST',
      statusCallbackEvent: CALL_STATUS_EVENTS,
      ...(config.machineDetection ? { machineDetection: config.machineDetection } : {}),
    });
    return { providerId: call.sid };
  } catch (err) {
    throw twilioRefusal('CALL', err, to.phone) ?? err;
  }
}

export const callProvider: ChannelProvider<PhoneAddress> = {
  channel: 'CALL',
  addressOf: (a: Addresses) => (a.phone ? { phone: a.phone } : undefined),
  send,
  cannotSchedule: () => 'calls cannot be scheduled (Twilio has no call scheduling); a call can only be placed now',
  cancel: async () => undefined,
};

const SID = /^CA[0-9a-f]{32}$/;
/**
 * Call statuses that end a call nobody answered, as the event they are: only `failed` means Twilio
 * could not place it (the number does not reach them); the others are a working number not answered.
 */
const ENDED_UNANSWERED: Record<string, 'failed' | 'unanswered'> = {
  failed: 'failed',
  'no-answer': 'unanswered',
  busy: 'unanswered',
  canceled: 'unanswered',
};

/** A person answered unless answering-machine detection says a machine or fax did. */
export function answeredByPerson(answeredBy: string | undefined): boolean {
  return !answeredBy || !(answeredBy.startsWith('machine') || answeredBy === 'fax');
}

function callContext(params: Params) {
  const sid = stringParam(params, 'CallSid', { required: true, pattern: SID, patternHint: 'must be a Call SID' });
  const ctx = contextFromParams(params);
  if (!ctx) throw badRequest('notificationId', 'the callback URL carries no notification context');
  return { sid, ctx };
}

/** A call status callback, as provider events (none for ringing, initiated, …). */
export function callStatusEvents(params: Params): { status: string; events: ProviderEvent[] } {
  const { sid, ctx } = callContext(params);
  const status = stringParam(params, 'CallStatus', { required: true, max: 32 });
  const answeredBy = stringParam(params, 'AnsweredBy', { max: 32 });
  const duration = Number(stringParam(params, 'CallDuration', { max: 10, pattern: /^\d+$/ }) ?? 0);
  const base = {
    channel: 'CALL' as const,
    notificationId: ctx.notificationId,
    who: { userId: ctx.userId },
    providerId: sid,
    eventId: messageId('call-status', sid, status),
    details: { status, answered_by: answeredBy },
  };
  if (status === 'in-progress') {
    if (answeredByPerson(answeredBy)) return { status, events: [{ ...base, kind: 'answered' }] };
    const details = { ...base.details, cause: 'machine' };
    return { status, events: [{ ...base, kind: 'unanswered', error: `answered by ${answeredBy}`, details }] };
  }
  if (status === 'completed' && answeredByPerson(answeredBy) && duration > 0) {
    return { status, events: [{ ...base, kind: 'delivered', details: { ...base.details, duration } }] };
  }
  const kind = Object.hasOwn(ENDED_UNANSWERED, status) ? ENDED_UNANSWERED[status] : undefined;
  if (kind) return { status, events: [{ ...base, kind, error: status, details: { ...base.details, cause: status } }] };
  return { status, events: [] };
}

/** The Gather action: a 1 confirms the notification. */
export function gatherEvents(params: Params): { locale?: string; confirmed: boolean; events: ProviderEvent[] } {
  const { sid, ctx } = callContext(params);
  const digits = stringParam(params, 'Digits', { max: 20 }) ?? '';
  if (digits !== '1') return { locale: ctx.locale, confirmed: false, events: [] };
  const event: ProviderEvent = {
    kind: 'confirmed',
    channel: 'CALL',
    notificationId: ctx.notificationId,
    who: { userId: ctx.userId },
    providerId: sid,
    eventId: messageId('call-confirmed', sid),
    details: { digits },
  };
  return { locale: ctx.locale, confirmed: true, events: [event] };
}
