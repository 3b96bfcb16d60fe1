/**
 * GET /insights' answer from the tally (pure): per group, per channel, per day,
 * over the days from `since`. Nothing here reads a record: every figure is a
 * sum of the counts kept as the service went (tally.ts).
 */
import { type Channel, CHANNELS } from '../channel-list';
import { type Band, BANDS, type BandEffects, bandKey, bandMean } from '../routing/bands';
import { GROUPS, type Group } from '../routing/holdout';
import type { Priors } from '../routing/learn';
import { type Lift, lift, type Rate, wilson } from './intervals';
import { groupCountsOf, type Tally } from './tally';

export interface GroupReport {
  notifications: number;
  engaged: number;
  engagement: Rate | null;
  /** not sent: over the frequency cap (not among the notifications) */
  suppressed: number;
  /** the first step's channel: count and share of the group's notifications */
  mix: Partial<Record<Channel, { count: number; share: number }>>;
}

export interface ChannelReport {
  sent: number;
  delivered: number;
  failed: number;
  engaged: number;
  delivery: Rate | null;
  failure: Rate | null;
  engagement: Rate | null;
}

export interface InsightsReport {
  since: string;
  until: string;
  groups: Partial<Record<Group, GroupReport>>;
  /** learned over holdout (null until both have notifications in the window) */
  lift: Lift | null;
  channels: Partial<Record<Channel, ChannelReport>>;
  /** per day: each group's notifications, engaged, and rate (days with notifications only) */
  daily: Array<{ day: string } & Partial<Record<Group, { notifications: number; engaged: number; rate: number }>>>;
}

export function reportOf(tally: Tally, since: string, until: string): InsightsReport {
  const days = Object.keys(tally)
    .filter((d) => d >= since && d <= until)
    .sort();
  const groupTotals = new Map<Group, number[]>();
  const channelTotals = new Map<Channel, number[]>();
  const daily: InsightsReport['daily'] = [];
  for (const day of days) {
    const { g = {}, c = {} } = tally[day];
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
    };
  }
  const channels: InsightsReport['channels'] = {};
  for (const [channel, [sent, delivered, failed, engaged]] of channelTotals) {
    channels[channel] = {
      sent,
      delivered,
      failed,
      engaged,
      delivery: wilson(Math.min(delivered, sent), sent),
      failure: wilson(Math.min(failed, sent), sent),
      engagement: wilson(Math.min(engaged, sent), sent),
    };
  }
  const [l, h] = [groups.learned, groups.holdout];
  return {
    since,
    until,
    groups,
    lift: l && h ? lift(l.engaged, l.notifications, h.engaged, h.notifications) : null,
    channels,
    daily,
  };
}

/**
 * The learner's population prior per channel (its mean and strength) and, with time bands, per band
 * of the user's day: the mean the learner starts a user from in that band (the channel's mean times
 * the band's effect, as routing/bands.ts applies it) and the effect itself.
 */
export function priorReport(priors: Priors, effects: BandEffects) {
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
  return { channels, bands };
}

/** element-wise; counts of different widths (stored before and after a channel was added) line up from the start */
const add = (a: number[] | undefined, b: number[]) =>
  Array.from({ length: Math.max(a?.length ?? 0, b.length) }, (_, i) => (a?.[i] ?? 0) + (b[i] ?? 0));
