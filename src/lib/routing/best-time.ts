/**
 * Best-time sends (`sendAt=best`), pure: over the next `within`, the channel and the time that
 * maximise the learner's rating of engagement, or with a value per engagement of net value (its
 * expected engagement in that band of the user's day plus the exploration bonus every routing decision carries: measured with `npm run simulate`,
 * a greedy choice settles on the first good band and earns 5–15 points less), among what may happen:
 *
 * - never inside quiet hours (no step at all then; a call not even now);
 * - within each provider's scheduling window: SMS more than 15 minutes and at most 35 days ahead
 *   (only through a Messaging Service), email at most 72 hours, calls only now;
 * - only the user's reachable channels (and only the requested one when `channel` is given).
 *
 * Candidate times are now and every whole hour after it within the window (the first allowed
 * minute of an hour that starts in quiet hours or too soon for a provider is not a candidate: the
 * next hour is). The earliest of equally good times wins, so a best time already reached sends now.
 */
import type { Channel } from '../channel-list';
import { SCHEDULING, SMS_WINDOW } from '../channels/windows';
import { inQuietHours, type QuietHours } from '../quiet-hours';
import { type Band, bandAt, type BandEffects, type BandEvidence, bandPosteriors } from './bands';
import type { Habits } from './habits';
import { type Evidence, type Posterior, type Worth, worthRating } from './learn';

const HOUR = 3_600_000;
/** `within` at most: the longest provider window (SMS, 35 days) */
export const MAX_WITHIN_MS = SMS_WINDOW.maxMs;
export const DEFAULT_WITHIN_MS = 24 * HOUR;

export interface BestTimeInput {
  now: number;
  withinMs: number;
  timezone: string;
  quiet?: QuietHours;
  /** the channels it may use (reachable, or the one requested) */
  channels: Channel[];
  /** Message Scheduling (SMS, WhatsApp) needs a Messaging Service */
  canScheduleSms: boolean;
  overall: Partial<Record<Channel, Posterior>>;
  evidence: Evidence;
  bands: BandEvidence;
  /** the user's recent band evidence (bands.ts's habitsChanged) */
  recent?: BandEvidence;
  effects: BandEffects;
  /** the population's habits (habits.ts) */
  habits?: Habits;
  halfLifeDays: number;
  /** routing for value: each send rated by value × engagement − cost (learn.ts) */
  worth?: Worth;
}

export interface BestTime {
  channel: Channel;
  /** undefined: now */
  at?: Date;
  band: Band;
  /** expected engagement at that time */
  expected: number;
  /** the best expected engagement of a send now (undefined: nothing may go out now, e.g. quiet hours) */
  expectedNow?: number;
}

/** Whether `channel` may go out at `at` (ms), decided at `now`. */
function allowed(channel: Channel, at: number, i: BestTimeInput): boolean {
  if (i.quiet && inQuietHours(new Date(at), i.quiet, i.timezone)) return false;
  const ahead = at - i.now;
  if (ahead === 0) return true;
  const window = SCHEDULING[channel]; // none: calls cannot be scheduled
  if (!window || (window.messagingService && !i.canScheduleSms)) return false;
  return ahead >= window.minMs && ahead <= window.maxMs;
}

export function bestTime(i: BestTimeInput): BestTime | undefined {
  const firstHour = Math.ceil((i.now + 1) / HOUR) * HOUR;
  const times = [i.now];
  for (let t = firstHour; t <= i.now + i.withinMs; t += HOUR) times.push(t);
  const o = { now: i.now, halfLifeDays: i.halfLifeDays, habits: i.habits, recent: i.recent };
  const byBand = new Map<Band, Partial<Record<Channel, Posterior>>>();
  const postAt = (band: Band) => {
    let p = byBand.get(band);
    if (!p) {
      p = bandPosteriors(i.overall, i.evidence, i.bands, i.effects, band, o);
      byBand.set(band, p);
    }
    return p;
  };
  let best: (BestTime & { r: number }) | undefined;
  let expectedNow: number | undefined;
  for (const t of times) {
    const band = bandAt(t, i.timezone);
    const post = postAt(band);
    for (const c of i.channels) {
      const p = post[c];
      if (!p || !allowed(c, t, i)) continue;
      const expected = p.a / (p.a + p.b);
      if (t === i.now) expectedNow = Math.max(expectedNow ?? 0, expected);
      const r = worthRating(p, c, i.worth);
      // strictly better only: the earliest of equal times wins
      if (!best || r > best.r + 1e-12)
        best = { channel: c, at: t === i.now ? undefined : new Date(t), band, expected, r };
    }
  }
  if (!best) return undefined;
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    channel: best.channel,
    at: best.at,
    band: best.band,
    expected: round(best.expected),
    expectedNow: expectedNow === undefined ? undefined : round(expectedNow),
  };
}

/** An ISO 8601 duration of days, hours and minutes (P2D, PT24H, P1DT12H, PT90M) in ms; undefined if not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [w, d, h, min] = m.slice(1).map((x) => Number(x ?? 0));
  return (((w * 7 + d) * 24 + h) * 60 + min) * 60_000;
}
