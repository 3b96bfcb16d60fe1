/**
 * GET /insights' answer from the tally (pure): per group, per channel, per day,
 * over the days from `since`. Nothing here reads a record: every figure is a
 * sum of the counts kept as the service went (tally.ts).
 */
import { type Channel, CHANNELS } from '../channel-list';
import { type Band, BANDS, type BandEffects, bandKey, bandMean } from '../routing/bands';
import { GROUPS, type Group } from '../routing/holdout';
import type { Priors } from '../routing/learn';
import type { Habits } from '../routing/habits';
import { type Lift, lift, type Rate, wilson } from './intervals';
import { MICROS } from '../costs/micros';
import { groupCountsOf, type Tally } from './tally';

export interface GroupReport {
  notifications: number;
  engaged: number;
  engagement: Rate | null;
  /** not sent: over the frequency cap (not among the notifications) */
  suppressed: number;
  /** the first step's channel: count and share of the group's notifications */
  mix: Partial<Record<Channel, { count: number; share: number }>>;
  /** what its sends were estimated to cost, in `currency` (see spendOf) */
  spend: Spend;
}

/**
 * Spend: the sum of the sends' estimated costs (`Notification Sent`'s `cost`), per notification
 * and per engagement, and with a value per engagement the net value (engaged × value − spend).
 * Spend is known exactly (a sum of estimates made before each send); what is uncertain is how many
 * engage, so the intervals are the engagement rate's Wilson interval carried through: cost per
 * engagement = cost per notification ÷ engagement rate.
 */
export interface Spend {
  total: number;
  perNotification: number | null;
  /** with its 95 % interval (the high end null when no engagement is ruled out) */
  perEngagement: { cost: number; interval: [number, number | null] } | null;
  /** engaged × value − spend, and per notification with its 95 % interval (null without a value) */
  netValue: { total: number; perNotification: number | null; interval: [number, number] | null } | null;
}

export interface ChannelReport {
  sent: number;
  delivered: number;
  failed: number;
  engaged: number;
  delivery: Rate | null;
  failure: Rate | null;
  engagement: Rate | null;
  /** per send instead of per notification */
  spend: Spend;
}

export interface InsightsReport {
  since: string;
  until: string;
  groups: Partial<Record<Group, GroupReport>>;
  /** learned over holdout (null until both have notifications in the window) */
  lift: Lift | null;
  /**
   * learned over holdout in net value per notification (value × engagement − cost per notification),
   * with its 95 % interval: the engagement lift's Newcombe interval × value, less the difference in
   * spend per notification (null without a value, or until both groups have notifications)
   */
  netValueLift: { difference: number; interval: [number, number] } | null;
  /** the currency spend is in, and the value per engagement net value is counted with (null: none) */
  currency: string;
  value: number | null;
  channels: Partial<Record<Channel, ChannelReport>>;
  /** per day: each group's notifications, engaged, and rate (days with notifications only) */
  daily: Array<{ day: string } & Partial<Record<Group, { notifications: number; engaged: number; rate: number }>>>;
}

/** Spend and net value of `n` notifications (or sends) of which `k` engaged, costing `micros` in all. */
export function spendOf(micros: number, k: number, n: number, value: number | undefined): Spend {
  const total = micros / MICROS;
  const rate = wilson(Math.min(k, n), n);
  const perNotification = n > 0 ? total / n : null;
  const perEngagement =
    rate && perNotification !== null && k > 0
      ? {
          cost: total / k,
          interval: [
            perNotification / rate.interval[1],
            rate.interval[0] > 0 ? perNotification / rate.interval[0] : null,
          ] as [number, number | null],
        }
      : null;
  const netValue =
    value === undefined
      ? null
      : {
          total: k * value - total,
          perNotification: perNotification === null ? null : (k / n) * value - perNotification,
          interval:
            rate && perNotification !== null
              ? ([rate.interval[0] * value - perNotification, rate.interval[1] * value - perNotification] as [
                  number,
                  number,
                ])
              : null,
        };
  return { total, perNotification, perEngagement, netValue };
}

export function reportOf(
  tally: Tally,
  since: string,
  until: string,
  money: { currency: string; value?: number } = { currency: 'USD' },
): InsightsReport {
  const value = money.value;
  const days = Object.keys(tally)
    .filter((d) => d >= since && d <= until)
    .sort();
  const groupTotals = new Map<Group, number[]>();
  const channelTotals = new Map<Channel, number[]>();
  const spendTotals = new Map<Group, number>();
  const daily: InsightsReport['daily'] = [];
  for (const day of days) {
    const { g = {}, c = {}, s = {} } = tally[day];
    for (const group of GROUPS) spendTotals.set(group, (spendTotals.get(group) ?? 0) + (s[group]?.[0] ?? 0));
    const row: InsightsReport['daily'][number] = { day };
    for (const group of GROUPS) {
      const counts = g[group];
      if (!counts) continue;
      groupTotals.set(group, add(groupTotals.get(group), counts));
      if (counts[0] > 0) row[group] = { notifications: counts[0], engaged: counts[1], rate: counts[1] / counts[0] };
    }
    for (const channel of CHANNELS) {
      const counts = c[channel];
      if (counts) channelTotals.set(channel, add(channelTotals.get(channel), counts));
    }
    if (Object.keys(row).length > 1) daily.push(row);
  }
  // in GROUPS order, which the answer keeps: callers (the insights page) list the groups as given
  const groups: InsightsReport['groups'] = {};
  for (const group of GROUPS) {
    const totals = groupTotals.get(group);
    if (!totals) continue;
    const { notifications: n, engaged: k, suppressed, mix } = groupCountsOf(totals);
    groups[group] = {
      notifications: n,
      engaged: k,
      engagement: wilson(k, n),
      suppressed,
      mix: Object.fromEntries(
        CHANNELS.flatMap((ch) => (mix[ch] ? [[ch, { count: mix[ch], share: n ? mix[ch] / n : 0 }]] : [])),
      ),
      spend: spendOf(spendTotals.get(group) ?? 0, k, n, value),
    };
  }
  const channels: InsightsReport['channels'] = {};
  for (const [channel, [sent, delivered, failed, engaged, spent = 0]] of channelTotals) {
    channels[channel] = {
      sent,
      delivered,
      failed,
      engaged,
      delivery: wilson(Math.min(delivered, sent), sent),
      failure: wilson(Math.min(failed, sent), sent),
      engagement: wilson(Math.min(engaged, sent), sent),
      spend: spendOf(spent, engaged, sent, value),
    };
  }
  const [l, h] = [groups.learned, groups.holdout];
  const engagementLift = l && h ? lift(l.engaged, l.notifications, h.engaged, h.notifications) : null;
  return {
    since,
    until,
    groups,
    lift: engagementLift,
    netValueLift:
      l && h && engagementLift && value !== undefined ? netLift(engagementLift, l.spend, h.spend, value) : null,
    currency: money.currency,
    value: value ?? null,
    channels,
    daily,
  };
}

/** The lift in net value per notification: value × the engagement lift, less the difference in spend. */
function netLift(l: Lift, learned: Spend, holdout: Spend, value: number) {
  const spent = (learned.perNotification ?? 0) - (holdout.perNotification ?? 0);
  const [low, high] = l.differenceInterval;
  return {
    difference: value * l.difference - spent,
    interval: [value * low - spent, value * high - spent] as [number, number],
  };
}

/**
 * The learner's population prior per channel (its mean and strength) and, with time bands, per band
 * of the user's day: the mean the learner starts a user from in that band (the channel's mean times
 * the band's effect, as routing/bands.ts applies it) and the effect itself. With the population's
 * habits: how far their kinds are trusted against the learner without them (routing/habits.ts's
 * trustOf: 1 while they forecast no worse).
 */
export function priorReport(priors: Priors, effects: BandEffects, habits?: Pick<Habits, 'trust'>) {
  const channels: Partial<Record<Channel, { mean: number; strength: number }>> = {};
  const bands: Partial<Record<Channel, Partial<Record<Band, { mean: number; effect: number }>>>> = {};
  for (const c of CHANNELS) {
    const p = priors[c];
    if (!p) continue;
    const mean = p.a / (p.a + p.b);
    channels[c] = { mean, strength: p.a + p.b };
    if (!BANDS.some((b) => effects[bandKey(c, b)] !== undefined)) continue;
    const perBand: Partial<Record<Band, { mean: number; effect: number }>> = {};
    for (const b of BANDS) {
      const effect = effects[bandKey(c, b)] ?? 1;
      perBand[b] = { mean: bandMean(mean, effect), effect };
    }
    bands[c] = perBand;
  }
  return { channels, bands, ...(habits ? { kinds: { trust: Math.round(habits.trust * 1000) / 1000 } } : {}) };
}

/** element-wise; counts of different widths (stored before and after a channel was added) line up from the start */
const add = (a: number[] | undefined, b: number[]) =>
  Array.from({ length: Math.max(a?.length ?? 0, b.length) }, (_, i) => (a?.[i] ?? 0) + (b[i] ?? 0));
