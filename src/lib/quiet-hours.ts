/**
 * Quiet hours in the user's time zone (computed with Intl, which carries the
 * IANA database): whether an instant is quiet, when the window ends (across a
 * daylight-saving change too), and what routing must skip meanwhile.
 */
import type { Channel } from './channel-list';

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

/** One formatter per time zone: building one costs more than using it, and routing asks per request. */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Wall-clock parts of `date` in `tz` (throws RangeError for a zone that is not one). */
function wallClock(date: Date, tz: string) {
  const parts = Object.fromEntries(
    formatterFor(tz)
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return { y: +parts.year, mo: +parts.month, d: +parts.day, h: +parts.hour, mi: +parts.minute, s: +parts.second };
}

/** The local hour (0–23) of `date` in `tz`; throws RangeError for a zone that is not one. */
export function localHour(date: Date, tz: string): number {
  return wallClock(date, tz).h;
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

/** Channels routing must skip at `now`: no call is placed in quiet hours. */
export function quietExclusions(now: Date, qh: QuietHours | undefined, tz: string): Partial<Record<Channel, string>> {
  if (!qh || !inQuietHours(now, qh, tz)) return {};
  const until = quietHoursEnd(now, qh, tz).toISOString();
  return { CALL: `quiet hours ${qh.text} (${tz}) until ${until}; urgent=true overrides` };
}
