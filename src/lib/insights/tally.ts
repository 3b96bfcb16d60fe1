/**
 * The counts /insights reports, kept as the service goes: additive per UTC day
 * (the day the notification was created), so that any window is a sum of days
 * and any number of deltas add up in any order (store/prior.ts appends them
 * beside the learner's sums, one item per invocation).
 *
 * Each count is taken from an observation the user's evidence document took
 * for the first time (store/evidence.ts dedups per notification, channel and
 * kind), or for a delivery from the notification record's step that took it
 * first (app/journey/progress.ts), so a redelivered webhook or a retried write
 * never counts twice, and every count matches one kind of Segment event:
 *   notifications  `Notification Sent` or `Notification Scheduled` (first step), per notification
 *   engaged        `Notification Engaged`, per notification (any channel)
 *   mix            the channel of the notification's first step
 *   suppressed     `Notification Suppressed` (over FREQUENCY_CAP, not sent), per notification
 *   per channel    `Notification Sent`, `Delivered` (or `Answered`), `Failed`, `Engaged`, per notification and channel
 *   spend          the sum of `Notification Sent`'s `cost` (estimates), per channel and per group
 */
import { type Channel, CHANNELS } from '../channel-list';
import { GROUPS, type Group } from '../routing/holdout';
import { toMicros } from '../costs/micros';

/**
 * [notifications, engaged, first channel SMS, CALL, EMAIL, suppressed by the frequency cap, first
 * channel of each channel added since, in CHANNELS order]. The layout only ever grows at the end, so
 * a count stored before a channel was added keeps its place: the array's width is its version.
 */
export type GroupCounts = number[];
/** [sent, delivered, failed, engaged, estimated spend of the sends in millionths of COST_CURRENCY] */
export type ChannelCounts = number[];
/** [estimated spend of the group's sends, in millionths of COST_CURRENCY]: integers, so sums are exact */
export type SpendCounts = number[];

export interface DayTally {
  g?: Partial<Record<Group, GroupCounts>>;
  c?: Partial<Record<Channel, ChannelCounts>>;
  s?: Partial<Record<Group, SpendCounts>>;
}
/** by UTC day, YYYY-MM-DD */
export type Tally = Record<string, DayTally>;

export type CountedKind = 'notified' | 'suppressed' | 'sent' | 'delivered' | 'failed' | 'unanswered' | 'engaged';

/** One observation as the tally sees it (the fields of store/evidence.ts's Observation it needs). */
export interface Counted {
  notificationId: string;
  /** the channel (none for a suppressed notification: it was never routed) */
  channel?: Channel;
  kind: string;
  group?: Group;
  day?: string;
  /** a send's estimated cost, in COST_CURRENCY */
  cost?: number;
}

/** the channels the first layout counted, in its order (channel-list.ts only appends to CHANNELS) */
const FIRST_LAYOUT_CHANNELS = 3;
const SUPPRESSED = 2 + FIRST_LAYOUT_CHANNELS;
/** the narrowest stored group counts (the first layout) and today's width */
const FIRST_GROUP_WIDTH = 3 + FIRST_LAYOUT_CHANNELS;
const GROUP_WIDTH = 3 + CHANNELS.length;
/** where a channel's share of the mix is counted */
const mixAt = (channel: Channel) => {
  const i = CHANNELS.indexOf(channel);
  return i < FIRST_LAYOUT_CHANNELS ? 2 + i : 3 + i;
};
/** [sent, delivered, failed, engaged] were the first layout; spend was added after */
const FIRST_CHANNEL_WIDTH = 4;
const CHANNEL_WIDTH = 5;
const SPENT = 4;
const SPEND_WIDTH = 1;

/** A group's counts by name (whatever width they were stored with). */
export function groupCountsOf(counts: GroupCounts): {
  notifications: number;
  engaged: number;
  suppressed: number;
  mix: Record<Channel, number>;
} {
  return {
    notifications: counts[0] ?? 0,
    engaged: counts[1] ?? 0,
    suppressed: counts[SUPPRESSED] ?? 0,
    mix: Object.fromEntries(CHANNELS.map((c) => [c, counts[mixAt(c)] ?? 0])) as Record<Channel, number>,
  };
}
/** an unanswered call is `Notification Failed` in Segment, so /insights counts it failed too (the learner does not) */
const CHANNEL_INDEX: Record<string, number> = { sent: 0, delivered: 1, failed: 2, unanswered: 2, engaged: 3 };
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export const dayOf = (at: number | string | Date) => new Date(at).toISOString().slice(0, 10);

/**
 * What `fresh` observations (counted by the evidence for the first time) add. `engagedBefore` says
 * whether the notification was already counted engaged (on another channel): a notification is
 * engaged once, however many of its channels engaged. Observations without a group or day (kept
 * before insights existed) count nothing.
 */
export function tallyOf(fresh: readonly Counted[], engagedBefore: (notificationId: string) => boolean): Tally {
  const out: Tally = {};
  const engagedNow = new Set<string>();
  /** the counts of `key` in the day's groups (`g`) or channels (`c`), all zero at first use */
  const countsOf = (day: string, part: 'g' | 'c' | 's', key: Group | Channel): number[] => {
    out[day] ??= {};
    const counts = out[day] as Record<'g' | 'c' | 's', Record<string, number[]> | undefined>;
    counts[part] ??= {};
    const of = counts[part] as Record<string, number[]>;
    of[key] ??= zeros(part === 'g' ? GROUP_WIDTH : part === 'c' ? CHANNEL_WIDTH : SPEND_WIDTH);
    return of[key];
  };
  for (const o of fresh) {
    if (!o.group || !o.day || !DAY.test(o.day)) continue;
    if (o.kind === 'notified' && o.channel) {
      const g = countsOf(o.day, 'g', o.group);
      g[0] += 1;
      g[mixAt(o.channel)] += 1;
      continue;
    }
    if (o.kind === 'suppressed') {
      countsOf(o.day, 'g', o.group)[SUPPRESSED] += 1;
      continue;
    }
    const at = CHANNEL_INDEX[o.kind];
    if (at === undefined || !o.channel) continue;
    countsOf(o.day, 'c', o.channel)[at] += 1;
    if (o.kind === 'sent' && o.cost !== undefined && Number.isFinite(o.cost) && o.cost > 0) {
      const micros = toMicros(o.cost);
      countsOf(o.day, 'c', o.channel)[SPENT] += micros;
      countsOf(o.day, 's', o.group)[0] += micros;
    }
    if (o.kind === 'engaged' && !engagedBefore(o.notificationId) && !engagedNow.has(o.notificationId)) {
      engagedNow.add(o.notificationId);
      countsOf(o.day, 'g', o.group)[1] += 1;
    }
  }
  return out;
}

/** `a + sign·b`; entries that come to zero are left out (an empty tally is `{}`). */
export function addTally(a: Tally, b: Tally, sign: 1 | -1 = 1): Tally {
  const out: Tally = {};
  for (const day of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const g = addCounts(a[day]?.g, b[day]?.g, sign, GROUP_WIDTH);
    const c = addCounts(a[day]?.c, b[day]?.c, sign, CHANNEL_WIDTH);
    const sp = addCounts(a[day]?.s, b[day]?.s, sign, SPEND_WIDTH);
    if (g || c || sp) out[day] = { ...(g ? { g } : {}), ...(c ? { c } : {}), ...(sp ? { s: sp } : {}) };
  }
  return out;
}

function addCounts<K extends string>(
  a: Partial<Record<K, number[]>> | undefined,
  b: Partial<Record<K, number[]>> | undefined,
  sign: 1 | -1,
  width: number,
): Partial<Record<K, number[]>> | undefined {
  const out: Partial<Record<K, number[]>> = {};
  for (const k of new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]) as Set<K>) {
    const [x, y] = [a?.[k], b?.[k]];
    // counts stored before a channel was added are narrower: the missing places count zero
    const w = Math.max(width, x?.length ?? 0, y?.length ?? 0);
    const sum = new Array<number>(w);
    for (let i = 0; i < w; i++) sum[i] = (x?.[i] ?? 0) + sign * (y?.[i] ?? 0);
    if (sum.some((v) => v !== 0)) out[k] = sum;
  }
  return Object.keys(out).length ? out : undefined;
}

/** A stored tally (anything malformed is left out, day by day and entry by entry). */
export function tallyFrom(data: unknown): Tally {
  if (!data || typeof data !== 'object') return {};
  const out: Tally = {};
  for (const [day, d] of Object.entries(data as Record<string, DayTally>)) {
    if (!DAY.test(day) || !d || typeof d !== 'object') continue;
    const g = validCounts(d.g, GROUPS, FIRST_GROUP_WIDTH);
    const c = validCounts(d.c, CHANNELS, FIRST_CHANNEL_WIDTH);
    const sp = validCounts(d.s, GROUPS, SPEND_WIDTH);
    if (g || c || sp) out[day] = { ...(g ? { g } : {}), ...(c ? { c } : {}), ...(sp ? { s: sp } : {}) };
  }
  return out;
}

/** Counts at least `minWidth` wide (a wider array was stored after channels were added: kept whole). */
function validCounts<K extends string>(raw: unknown, keys: readonly K[], minWidth: number) {
  if (!raw || typeof raw !== 'object') return undefined;
  const out: Partial<Record<K, number[]>> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (keys.includes(k as K) && Array.isArray(v) && v.length >= minWidth && v.every(Number.isSafeInteger))
      out[k as K] = v as number[];
  }
  return Object.keys(out).length ? out : undefined;
}

/** The days from `fromDay` on (a summary keeps what /insights may still ask for). */
export function tallySince(t: Tally, fromDay: string): Tally {
  return Object.fromEntries(Object.entries(t).filter(([day]) => day >= fromDay));
}

const zeros = (n: number) => new Array<number>(n).fill(0);
