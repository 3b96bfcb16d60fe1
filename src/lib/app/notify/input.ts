/** The parameters of /notify and /channel, validated; bad input is a 400 naming the field. */
import { DEFAULT_WITHIN_MS, MAX_WITHIN_MS, parseDuration } from '../../routing/best-time';
import { createHash, randomUUID } from 'node:crypto';
import { SMS_WINDOW } from '../../channels/windows';
import { type Channel, CHANNELS, parseChannel } from '../../channel-list';
import { type Config, CONTENT_SID, DECIMAL, whatsappTemplateVariable } from '../../config';
import { normalizeEmail, normalizePhone } from '../../contact';
import type { Content } from '../../content';
import { badRequest } from '../../http/errors';
import { booleanParam, idParam, type Params, stringParam } from '../../http/params';
import { LOCALE_PATTERN } from '../../i18n';
import { parseQuietHours } from '../../quiet-hours';
import type { RoutingInput } from '../../routing/route';

export const MAX_MESSAGE = 1600;

export interface NotifyInput extends RoutingInput {
  notificationId: string;
  content: Content;
  /** schedule the notification (ISO 8601 with offset) */
  sendAt?: Date;
  /** sendAt=best: the learner picks the channel and the time within this many ms (best-time.ts) */
  bestWithinMs?: number;
  /** ordered channels to escalate through, or auto (routed channel first, then the other reachable ones) */
  escalation?: Channel[] | 'auto';
  /** minutes between escalation steps */
  escalateAfter: number;
}

/**
 * What makes two /notify requests the same request: everything but the id (recipient, content,
 * channel, timing, journey). Kept in the record, so that an id reused for something else is a
 * conflict, not a silent "duplicate" answered with the other notification's result.
 */
export function requestFingerprint(input: NotifyInput): string {
  const { notificationId: _id, sendAt, ...rest } = input;
  return createHash('sha256')
    .update(JSON.stringify({ ...rest, sendAt: sendAt?.toISOString() }))
    .digest('base64url')
    .slice(0, 22);
}

export const MIN_ESCALATE_AFTER = 15;
export const DEFAULT_ESCALATE_AFTER = 60;

/** a sendAt this little in the past is a caller's clock a little behind ours, not a mistake */
const PAST_TOLERANCE_MS = 60_000;

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `sendAt` as a Date; it must carry its UTC offset so it is not read in the server's zone. */
export function parseSendAt(params: Params, name = 'sendAt'): Date | undefined {
  const hint = 'must be ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+09:00';
  const raw = stringParam(params, name, { max: 40, pattern: ISO_WITH_OFFSET, patternHint: hint });
  if (raw === undefined) return undefined;
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw badRequest(name, `${name} is not a valid time`);
  return at;
}

/**
 * A sendAt no channel could keep, as a 400 naming the field (not a provider's error, or a Sync one,
 * later): in the past (beyond a caller's clock a minute behind ours), or past the longest window
 * any channel schedules in (Twilio's 35 days).
 */
export function checkSendAt(sendAt: Date | undefined, now: number): void {
  const ahead = sendAt ? sendAt.getTime() - now : 0;
  if (ahead < -PAST_TOLERANCE_MS) throw badRequest('sendAt', 'sendAt is in the past: leave it out to send now');
  if (ahead > SMS_WINDOW.maxMs)
    throw badRequest('sendAt', 'sendAt is more than 35 days ahead: no channel can schedule that far');
}

/** `sendAt` (a time, or `best`) and `within` (only with best: an ISO 8601 duration, default PT24H). */
function parseTiming(params: Params): { sendAt?: Date; bestWithinMs?: number } {
  const within = stringParam(params, 'within', { max: 20 });
  if (params.sendAt !== 'best') {
    if (within !== undefined) throw badRequest('within', 'within applies to sendAt=best only');
    return { sendAt: parseSendAt(params) };
  }
  if (within === undefined) return { bestWithinMs: DEFAULT_WITHIN_MS };
  const ms = parseDuration(within);
  if (ms === undefined || ms <= 0)
    throw badRequest('within', 'within must be an ISO 8601 duration of days, hours or minutes, e.g. PT24H or P3D');
  if (ms > MAX_WITHIN_MS)
    throw badRequest('within', 'within is at most P35D (Twilio schedules SMS at most 35 days ahead)');
  return { bestWithinMs: ms };
}

function parseEscalation(params: Params): Channel[] | 'auto' | undefined {
  const raw = params.escalation;
  const hint = 'escalation must be auto or a list of channels such as call,sms,email';
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (raw === 'auto') return 'auto';
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (!items || items.some((i) => typeof i !== 'string')) throw badRequest('escalation', hint);
  const channels = items.map((i) => parseChannel(i));
  if (channels.length === 0 || channels.some((c) => !c)) throw badRequest('escalation', hint, 'invalid_channel');
  if (new Set(channels).size !== channels.length) {
    throw badRequest('escalation', 'escalation lists each channel at most once');
  }
  return channels as Channel[];
}

function parseEscalateAfter(params: Params): number {
  const hint = 'must be a whole number of minutes';
  const raw = stringParam(params, 'escalateAfter', { max: 6, pattern: /^\d+$/, patternHint: hint, scalar: true });
  if (raw === undefined) return DEFAULT_ESCALATE_AFTER;
  const minutes = Number(raw);
  if (minutes < MIN_ESCALATE_AFTER) {
    const why = `escalateAfter must be at least ${MIN_ESCALATE_AFTER} minutes (Twilio schedules SMS at least 15 minutes ahead)`;
    throw badRequest('escalateAfter', why);
  }
  return minutes;
}

function parseQuietHoursParam(params: Params): string | undefined {
  const raw = stringParam(params, 'quietHours', { max: 11 });
  if (raw === undefined || raw === 'none') return raw;
  if (!parseQuietHours(raw)) throw badRequest('quietHours', 'quietHours must be HH:MM-HH:MM (or none)');
  return raw;
}

/** `whatsapp`: a number (`whatsapp:` prefix optional), or `true` for the request's `phone`. */
function whatsappParam(params: Params, phone: string | undefined, locale: string): string | undefined {
  const raw = params.whatsapp;
  if (raw === undefined || raw === null || raw === '' || raw === false || raw === 'false') return undefined;
  if (raw === true || raw === 'true') {
    if (!phone) throw badRequest('whatsapp', 'whatsapp=true sends to the phone number: give phone too');
    return phone;
  }
  const text = stringParam(params, 'whatsapp', { max: 45 }) ?? '';
  return normalizePhone(text.replace(/^whatsapp:/, ''), locale, 'whatsapp');
}

/**
 * `template` (a Content SID, or a name setup wrote as WHATSAPP_TEMPLATE_<NAME>) and `variables` (an
 * object, or its JSON): what WhatsApp is sent outside the 24-hour window.
 */
function whatsappContent(params: Params, templates?: Record<string, string>): Content['whatsapp'] {
  const name = stringParam(params, 'template', { max: 64 });
  const variables = variablesParam(params);
  if (name === undefined) {
    if (variables) throw badRequest('variables', 'variables fill a template: give template too');
    return undefined;
  }
  let template = name;
  if (!CONTENT_SID.test(name) && templates) {
    const sid = templates[name.toLowerCase()];
    if (!sid)
      throw badRequest(
        'template',
        `template ${name} is neither a Content SID (HX…) nor a name npm run setup wrote (${whatsappTemplateVariable(name)})`,
      );
    template = sid;
  }
  return { template, ...(variables ? { variables } : {}) };
}

function variablesParam(params: Params): Record<string, string> | undefined {
  let raw: unknown = params.variables;
  if (raw === undefined || raw === null || raw === '') return undefined;
  const hint = 'variables must be an object of strings, such as {"1":"山田","2":"12月3日"} (or its JSON)';
  if (typeof raw === 'string') {
    if (raw.length > 4096) throw badRequest('variables', hint, 'too_long');
    try {
      raw = JSON.parse(raw);
    } catch {
      throw badRequest('variables', hint);
    }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('variables', hint);
  const entries = Object.entries(raw as Record<string, unknown>);
  if (
    entries.length > 20 ||
    entries.some(([k, v]) => !/^[\w.]{1,32}$/.test(k) || !['string', 'number'].includes(typeof v))
  )
    throw badRequest('variables', hint);
  return Object.fromEntries(entries.map(([k, v]) => [k, String(v)]));
}

/** `value`: what one engagement is worth, in COST_CURRENCY (routing for value, net value in /insights). */
export function valueParam(params: Params): number | undefined {
  const hint = 'must be a positive decimal amount in COST_CURRENCY, such as 0.5';
  const raw = stringParam(params, 'value', {
    max: 20,
    pattern: DECIMAL,
    patternHint: hint,
    scalar: true,
  });
  if (raw !== undefined && Number(raw) === 0) throw badRequest('value', `value ${hint}`);
  return raw === undefined ? undefined : Number(raw);
}

export function parseRoutingInput(params: Params, config: Pick<Config, 'defaultLocale'>): RoutingInput {
  const userId = idParam(params, 'userId', { required: true });
  const localeHint = 'must be a language tag such as ja-JP or en-US';
  const locale =
    stringParam(params, 'locale', { max: 35, pattern: LOCALE_PATTERN, patternHint: localeHint }) ??
    config.defaultLocale;
  const rawChannel = stringParam(params, 'channel', { max: 10 });
  const channel = rawChannel === undefined ? undefined : parseChannel(rawChannel);
  if (rawChannel !== undefined && !channel) {
    const names = CHANNELS.map((c) => c.toLowerCase()).join(', ');
    throw badRequest('channel', `channel must be one of ${names}`, 'invalid_channel');
  }
  const phone = stringParam(params, 'phone', { max: 32 });
  const email = stringParam(params, 'email', { max: 254 });
  const value = valueParam(params);
  const normalizedPhone = phone === undefined ? undefined : normalizePhone(phone, locale);
  const whatsapp = whatsappParam(params, normalizedPhone, locale);
  return {
    userId,
    locale,
    channel,
    phone: normalizedPhone,
    email: email === undefined ? undefined : normalizeEmail(email),
    ...(whatsapp ? { whatsapp } : {}),
    urgent: booleanParam(params, 'urgent'),
    quietHours: parseQuietHoursParam(params),
    ...(value !== undefined ? { value } : {}),
  };
}

/**
 * An escalation keeps its content and where to send it in its record, a Sync document (16 KiB):
 * all of it together stays under this, leaving room for the steps, the answer and events kept during
 * a Segment outage (measured at its maximum in security.e2e).
 */
export const MAX_JOURNEY_CONTENT_BYTES = 10 * 1024;

export function parseNotifyInput(
  params: Params,
  config: Pick<Config, 'defaultLocale'> & Partial<Pick<Config, 'whatsappTemplates'>>,
): NotifyInput {
  const routing = parseRoutingInput(params, config);
  const whatsapp = whatsappContent(params, config.whatsappTemplates);
  const content: Content = {
    ...(whatsapp ? { whatsapp } : {}),
    message: stringParam(params, 'message', { required: true, max: MAX_MESSAGE }),
    locale: routing.locale,
    subject: stringParam(params, 'subject', { max: 255 }),
    html: stringParam(params, 'html', { max: 100_000 }),
    firstName: stringParam(params, 'firstName', { max: 100 }),
    lastName: stringParam(params, 'lastName', { max: 100 }),
  };
  const input: NotifyInput = {
    ...routing,
    notificationId: idParam(params, 'notificationId') ?? randomUUID(),
    content,
    ...parseTiming(params),
    escalation: parseEscalation(params),
    escalateAfter: parseEscalateAfter(params),
  };
  if (input.bestWithinMs !== undefined && input.escalation)
    throw badRequest('sendAt', 'sendAt=best picks one channel and one time: it cannot be combined with escalation');
  if (input.escalation) {
    const kept = [content, input.phone, input.email, input.quietHours];
    const bytes = Buffer.byteLength(JSON.stringify(kept));
    if (bytes > MAX_JOURNEY_CONTENT_BYTES) {
      const why = `an escalation stores its content in Twilio Sync: message, subject, html, names and addresses together must stay under ${MAX_JOURNEY_CONTENT_BYTES} bytes`;
      throw badRequest(content.html ? 'html' : 'message', why, 'too_long');
    }
  }
  return input;
}
