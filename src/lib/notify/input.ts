/** The parameters of /notify and /channel, validated; bad input is a 400 naming the field. */
import { type Channel, CHANNELS, parseChannel } from '../channels';
import type { Config } from '../config';
import { normalizeEmail, normalizePhone } from '../contact';
import { badRequest } from '../http/errors';
import { booleanParam, type Params, stringParam } from '../http/params';
import { parseQuietHours, parseSendAt } from '../schedule';
import { LOCALE_PATTERN } from '../i18n';
import { randomUUID } from 'node:crypto';

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$/;

/** A user or notification id: letters, digits and _.:@-, at most 64 (it names Sync documents). */
export function idParam(params: Params, name: string, rule: { required: true }): string;
export function idParam(params: Params, name: string, rule?: { required?: boolean }): string | undefined;
export function idParam(params: Params, name: string, rule: { required?: boolean } = {}): string | undefined {
  return stringParam(params, name, {
    required: rule.required,
    max: 64,
    pattern: ID_PATTERN,
    patternHint: 'may contain letters, digits and _.:@- only',
  });
}
export const MAX_MESSAGE = 1600;

export interface RoutingInput {
  userId: string;
  phone?: string;
  email?: string;
  channel?: Channel;
  locale: string;
}

export interface NotifyInput extends RoutingInput {
  notificationId: string;
  message: string;
  subject?: string;
  html?: string;
  firstName?: string;
  lastName?: string;
  /** schedule the notification (ISO 8601 with offset) */
  sendAt?: Date;
  /** ordered channels to escalate through, or auto (routed channel first, then the other reachable ones) */
  escalation?: Channel[] | 'auto';
  /** minutes between escalation steps */
  escalateAfter: number;
  /** ignore quiet hours */
  urgent: boolean;
  /** quiet hours for this request ("21:00-08:00", or "none"), overriding QUIET_HOURS */
  quietHours?: string;
}

export const MIN_ESCALATE_AFTER = 15;
export const DEFAULT_ESCALATE_AFTER = 60;

function parseEscalation(params: Params): Channel[] | 'auto' | undefined {
  const raw = params.escalation;
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (raw === 'auto') return 'auto';
  const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : undefined;
  if (!items || items.some((i) => typeof i !== 'string'))
    throw badRequest('escalation', 'escalation must be auto or a list of channels such as call,sms,email');
  const channels = items.map((i) => parseChannel(i));
  if (channels.length === 0 || channels.some((c) => !c))
    throw badRequest(
      'escalation',
      'escalation must be auto or a list of channels such as call,sms,email',
      'invalid_channel',
    );
  if (new Set(channels).size !== channels.length)
    throw badRequest('escalation', 'escalation lists each channel at most once');
  return channels as Channel[];
}

function parseEscalateAfter(params: Params): number {
  const raw = stringParam(params, 'escalateAfter', {
    max: 6,
    pattern: /^\d+$/,
    patternHint: 'must be a whole number of minutes',
  });
  if (raw === undefined) return DEFAULT_ESCALATE_AFTER;
  const minutes = Number(raw);
  if (minutes < MIN_ESCALATE_AFTER)
    throw badRequest(
      'escalateAfter',
      `escalateAfter must be at least ${MIN_ESCALATE_AFTER} minutes (Twilio schedules SMS at least 15 minutes ahead)`,
    );
  return minutes;
}

export function parseRoutingInput(params: Params, config: Config): RoutingInput {
  const userId = idParam(params, 'userId', { required: true });
  const locale =
    stringParam(params, 'locale', {
      max: 35,
      pattern: LOCALE_PATTERN,
      patternHint: 'must be a language tag such as ja-JP or en-US',
    }) ?? config.defaultLocale;
  const rawChannel = stringParam(params, 'channel', { max: 10 });
  const channel = rawChannel === undefined ? undefined : parseChannel(rawChannel);
  if (rawChannel !== undefined && !channel)
    throw badRequest(
      'channel',
      `channel must be one of ${CHANNELS.map((c) => c.toLowerCase()).join(', ')}`,
      'invalid_channel',
    );
  const phone = stringParam(params, 'phone', { max: 32 });
  const email = stringParam(params, 'email', { max: 254 });
  return {
    userId,
    locale,
    channel,
    phone: phone === undefined ? undefined : normalizePhone(phone, locale),
    email: email === undefined ? undefined : normalizeEmail(email),
  };
}

/** An escalation keeps its content in a Sync document (16 KiB of data); leave room for the steps. */
export const MAX_JOURNEY_CONTENT_BYTES = 12 * 1024;

export function parseNotifyInput(params: Params, config: Config): NotifyInput {
  const input = parseFields(params, config);
  if (input.escalation) {
    const bytes = Buffer.byteLength(JSON.stringify([input.message, input.subject, input.html]));
    if (bytes > MAX_JOURNEY_CONTENT_BYTES) {
      throw badRequest(
        input.html ? 'html' : 'message',
        `an escalation stores its content in Twilio Sync: message, subject and html together must stay under ${MAX_JOURNEY_CONTENT_BYTES} bytes`,
        'too_long',
      );
    }
  }
  return input;
}

function parseFields(params: Params, config: Config): NotifyInput {
  const routing = parseRoutingInput(params, config);
  return {
    ...routing,
    notificationId: idParam(params, 'notificationId') ?? randomUUID(),
    message: stringParam(params, 'message', { required: true, max: MAX_MESSAGE }),
    subject: stringParam(params, 'subject', { max: 255 }),
    html: stringParam(params, 'html', { max: 100_000 }),
    firstName: stringParam(params, 'firstName', { max: 100 }),
    lastName: stringParam(params, 'lastName', { max: 100 }),
    sendAt: parseSendAt(params),
    escalation: parseEscalation(params),
    escalateAfter: parseEscalateAfter(params),
    urgent: booleanParam(params, 'urgent'),
    quietHours: parseQuietHoursParam(params),
  };
}

function parseQuietHoursParam(params: Params): string | undefined {
  const raw = stringParam(params, 'quietHours', { max: 11 });
  if (raw === undefined || raw === 'none') return raw;
  if (!parseQuietHours(raw)) throw badRequest('quietHours', 'quietHours must be HH:MM-HH:MM (or none)');
  return raw;
}
