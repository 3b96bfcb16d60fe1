/**
 * Time rules: what each provider's scheduler accepts, and quiet hours in the
 * user's time zone (computed with Intl, which carries the IANA database).
 */
import type { Channel } from './channels';
import type { Config } from './config';
import { badRequest } from './http/errors';
import type { Params } from './http/params';
import { stringParam } from './http/params';

const MINUTE = 60_000;
/** Twilio Message Scheduling: more than 15 minutes (plus a margin for transit) and at most 35 days ahead. */
export const SMS_WINDOW = { minMs: 15 * MINUTE + 30_000, maxMs: 35 * 24 * 60 * MINUTE };
/** SendGrid send_at: at most 72 hours ahead. */
export const EMAIL_WINDOW = { maxMs: 72 * 60 * MINUTE };

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `sendAt` as a Date; it must carry its UTC offset so it is not read in the server's zone. */
export function parseSendAt(params: Params, name = 'sendAt'): Date | undefined {
  const raw = stringParam(params, name, {
    max: 40,
    pattern: ISO_WITH_OFFSET,
    patternHint: 'must be ISO 8601 with an offset, e.g. 2026-12-01T09:00:00+09:00',
  });
  if (raw === undefined) return undefined;
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw badRequest(name, `${name} is not a valid time`);
  return at;
}

/** Why `channel` cannot be scheduled at `at` (undefined when it can). */
export function cannotSchedule(channel: Channel, at: Date, now: Date, config: Config): string | undefined {
  const ahead = at.getTime() - now.getTime();
  switch (channel) {
    case 'CALL':
      return 'calls cannot be scheduled (Twilio has no call scheduling); a call can only be placed now';
    case 'SMS':
      if (!config.messagingServiceSid) return 'scheduled SMS need a Messaging Service (set MESSAGING_SERVICE_SID)';
      if (ahead < SMS_WINDOW.minMs || ahead > SMS_WINDOW.maxMs)
        return 'an SMS can be scheduled more than 15 minutes and at most 35 days ahead';
      return undefined;
    case 'EMAIL':
      if (ahead <= 0 || ahead > EMAIL_WINDOW.maxMs) return 'an email can be scheduled at most 72 hours ahead';
      return undefined;
  }
}

export interface QuietHours {
  start: number; // minutes after local midnight
  end: number;
  text: string;
}

export function parseQuietHours(text: string): QuietHours | undefined {
  const m = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  if (!m) return undefined;
  return { start: Number(m[1]) * 60 + Number(m[2]), end: Number(m[3]) * 60 + Number(m[4]), text: text.trim() };
}

export function validTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock parts of `date` in `tz`. */
function wallClock(date: Date, tz: string) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return { y: +parts.year, mo: +parts.month, d: +parts.day, h: +parts.hour, mi: +parts.minute, s: +parts.second };
}

function minutesOfDay(date: Date, tz: string): number {
  const w = wallClock(date, tz);
  return w.h * 60 + w.mi;
}

export function inQuietHours(date: Date, qh: QuietHours, tz: string): boolean {
  const m = minutesOfDay(date, tz);
  return qh.start <= qh.end ? m >= qh.start && m < qh.end : m >= qh.start || m < qh.end;
}

/** The first instant at or after `date` when the quiet window ends (local time = end). */
export function quietHoursEnd(date: Date, qh: QuietHours, tz: string): Date {
  const w = wallClock(date, tz);
  const offsetMs = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(date.getTime() / 1000) * 1000;
  let target = Date.UTC(w.y, w.mo - 1, w.d, Math.floor(qh.end / 60), qh.end % 60) - offsetMs;
  if (target <= date.getTime()) target += 24 * 3600_000;
  // Re-read the offset at the target instant (a DST change may lie in between).
  const t = wallClock(new Date(target), tz);
  const drift = (t.h * 60 + t.mi - qh.end) * 60_000;
  return new Date(target - (Math.abs(drift) < 12 * 3600_000 ? drift : 0));
}
