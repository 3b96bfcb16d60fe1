/**
 * When as well as which, pure: a user's evidence per band of their local day, and the posterior a
 * channel has at a given time.
 *
 * Bands: night 0–6, morning 6–12, afternoon 12–18, evening 18–24 (the user's local hours). Four,
 * because the habits that move a channel follow the working day (email read at the desk, SMS
 * answered after work, the phone picked up in the morning), and a finer split would leave each cell
 * too few notifications at 20–40 per user; quiet hours usually take the night band anyway.
 *
 * Shrinkage: a band's posterior starts from the user's overall posterior for the channel (all their
 * evidence outside the band), moved by the population's effect of that band for that channel (the
 * ratio of its engagement rate in the band to its rate overall, itself shrunk to 1 on thin data and
 * as far as sampling noise could explain it),
 * with a bounded strength; the user's evidence in the band is then added. A user with no evidence
 * in a band gets their overall rate times the population's band effect, never less informed than
 * the learner that ignores time; evidence in the band soon outweighs it.
 */
import { type Channel, CHANNELS } from '../channel-list';
import { localHour } from '../quiet-hours';
import {
  type Beta,
  type ChannelSums,
  decayed,
  type Evidence,
  type EvidenceKind,
  observe,
  type Posterior,
  type PopulationSums,
  type Priors,
  rating,
  UNINFORMED,
} from './learn';

import { type Band, BANDS } from './band-names';
import { type BandCounts, countsOf, habitPosterior, type Habits, mixtureBeta, responsibilities } from './habits';

export { type Band, BANDS } from './band-names';

export const bandOfHour = (hour: number): Band => BANDS[Math.floor((((hour % 24) + 24) % 24) / 6)];

/** The band of `at` in `timezone` (an IANA name; UTC when it is not one). */
export function bandAt(at: number, timezone: string): Band {
  let hour: number;
  try {
    hour = localHour(new Date(at), timezone);
  } catch {
    hour = new Date(at).getUTCHours();
  }
  return bandOfHour(hour);
}

/** A user's evidence per band (each an Evidence, faded the same way). */
/** What the learner knows of one user and of everyone. */
export interface Knowledge {
  priors: Priors;
  evidence: Evidence;
  /** with ROUTING_TIME_BANDS on: the user's evidence per band of the day, and the population's band effects */
  bands?: BandEvidence;
  /** the same, fading with RECENT_HALF_LIFE_DAYS: what the user did lately (habitsChanged) */
  recent?: BandEvidence;
  effects?: BandEffects;
  /** the population's habits (habits.ts), with time bands */
  habits?: Habits;
}

export type BandEvidence = Partial<Record<Band, Evidence>>;

export function observeInBand(
  bands: BandEvidence,
  band: Band,
  channel: Channel,
  kind: EvidenceKind,
  now: number,
  halfLifeDays: number,
): BandEvidence {
  return { ...bands, [band]: observe(bands[band] ?? {}, channel, kind, now, halfLifeDays) };
}

/** The population sums key of a channel in a band (beside the channel's own key). */
export const bandKey = (c: Channel, b: Band) => `${c}@${b}`;

/** What replacing a user's band evidence `before` by `after` adds to the population's band sums (n and k). */
export function bandSumsDelta(before: BandEvidence, after: BandEvidence): PopulationSums {
  const delta: PopulationSums = {};
  for (const b of BANDS)
    for (const c of CHANNELS) {
      const [x, y] = [before[b]?.[c], after[b]?.[c]];
      const dn = (y?.sent ?? 0) - (x?.sent ?? 0);
      const dk = (y?.engaged ?? 0) - (x?.engaged ?? 0);
      if (dn || dk) delta[bandKey(c, b)] = { users: 0, n: dn, k: dk, nn: 0, kk: 0 };
    }
  return delta;
}

/** The population's effect of each band on each channel: rate in the band ÷ rate overall. */
export type BandEffects = Partial<Record<string, number>>;

/** What the learner knows of everyone: the prior per channel, the bands' effects and the habits (habits.ts). */
export interface Population {
  priors: Priors;
  effects: BandEffects;
  habits: Habits;
}

/** Trials in a band before its effect is trusted fully (below, it is shrunk towards no effect). */
const EFFECT_TRIALS = 30;

export function bandEffectsOf(sums: PopulationSums): BandEffects {
  const out: BandEffects = {};
  for (const c of CHANNELS) {
    const all = sums[c];
    if (!all || all.n <= 0) continue;
    const overall = Math.max(0.005, all.k / all.n);
    for (const b of BANDS) {
      const s: ChannelSums | undefined = sums[bandKey(c, b)];
      if (!s || s.n <= 0) continue;
      // shrunk towards the overall rate by EFFECT_TRIALS pseudo-trials …
      const rate = (s.k + overall * EFFECT_TRIALS) / (s.n + EFFECT_TRIALS);
      // … and towards no effect by as much as sampling noise could explain it (positive-part
      // James–Stein): a flat population's ±5 % wobble is no time pattern, a retiree's morning is
      const deviation = rate / overall - 1;
      const noise = (overall * (1 - overall)) / (s.n + EFFECT_TRIALS) / (overall * overall);
      const keep = deviation === 0 ? 0 : Math.max(0, 1 - (2 * noise) / (deviation * deviation));
      out[bandKey(c, b)] = 1 + keep * deviation;
    }
  }
  return out;
}

/**
 * How strongly a band's rate is tied to the user's overall rate, in pseudo-trials. Measured with
 * `npm run simulate` (time-varying and flat populations): weaker lets time-bound habits show
 * after two or three notifications in a band; stronger keeps flat users from chasing noise.
 */
export const BAND_STRENGTH = 8;

/** The z-score at which a band's tie to the user's history is halved (bandTie). */
const SURPRISE_Z = 3;
/** The least a band's tie keeps, in pseudo-trials: its own evidence may then outweigh it at once. */
const MIN_BAND_STRENGTH = 1;

/**
 * How much of BAND_STRENGTH ties a band to the user's history, as a share: all of it while the user's
 * evidence in the band agrees with what the rest of their history predicts (`mean`), less as it
 * disagrees (its z-score z: 1 / (1 + (z / SURPRISE_Z)²)). A desk worker whose evening emails go
 * unread while their daytime ones are read has habits that move with the hour: their evening is
 * then learned from their evenings, and the other channels are tried there. A flat user's chance
 * wobble (|z| ≈ 1) keeps 90 % of the tie, so noise is not chased. Measured in-process with
 * `npm run bench:learning -- --seeds 1..20` (120 users, 20 notifications): +1.2 points on the
 * time-varying population (76.9 → 78.1), +7.8 on strong crossover between bands, +1.1 without
 * email, +0.1 and +0.5 on the flat ones. SURPRISE_Z 2 bought more (+1.4, +11) but put the time-aware learner more than 1 point
 * under the learner without time on `npm run simulate`'s flat population 1 (seed 9); at 3 every
 * check of seeds 7, 8 and 9 passes.
 */
export function bandTie(engaged: number, sent: number, mean: number): number {
  if (sent <= 0) return 1;
  const z = (engaged - sent * mean) / Math.sqrt(sent * mean * (1 - mean));
  return 1 / (1 + (z / SURPRISE_Z) ** 2);
}

/** The mean a user starts from in a band: the channel's mean moved by the band's effect, kept off 0 and 1. */
export const bandMean = (mean: number, effect = 1) => Math.min(0.995, Math.max(0.005, mean * effect));

/**
 * A user's counts per channel@band and responsibilities under `habits`, once per (habits, band
 * evidence): they do not depend on the band asked about, and the learned identify and best-time
 * sends ask for every band (four times the ~30 µs of the likelihoods per engaged user of a batch).
 * Band evidence is never changed in place (observeInBand answers a new object), so identity is enough.
 */
const kinds = new WeakMap<Habits, WeakMap<BandEvidence, { counts: BandCounts; r: number[] }>>();
function userKind(habits: Habits, bands: BandEvidence) {
  let byBands = kinds.get(habits);
  if (!byBands) {
    byBands = new WeakMap();
    kinds.set(habits, byBands);
  }
  let known = byBands.get(bands);
  if (!known) {
    const counts = countsOf(bands);
    known = { counts, r: responsibilities(habits, counts) };
    byBands.set(bands, known);
  }
  return known;
}

/**
 * The half-life of a user's recent evidence, in days: about the last four notifications at one a day.
 * It is kept beside the evidence (fading with EVIDENCE_HALF_LIFE_DAYS, 30 by default) to see a
 * change of habits, and decided from once one is seen (habitsChanged).
 */
export const RECENT_HALF_LIFE_DAYS = 3;
/**
 * How far a channel's recent rate may stray from the user's older rate, in standard errors, before
 * their habits are taken to have changed. Measured with `npm run simulate` (seed 7; population 4,
 * whose best channel changes halfway, against the time-varying population 5). 1.5: 57.6 and 69.5 at
 * 20 and 50 notifications on population 4. 1: 60.1 and 73.8 (the learner ignoring time: 59.7, 70.3),
 * costing population 5 0.1 and 0.3 points at 20 and 40. 0.75: 61.3 and 74.8, population 5 0.3 and
 * 0.9. Half-lives of 2, 4, 5 and 7 days bought less than 3 at 1.
 */
const CHANGE_Z = 1;

/**
 * Whether a user's habits changed: some channel's rate in their recent evidence (all bands) is more
 * than CHANGE_Z standard errors from their rate before it (the whole evidence less the recent).
 *
 * Why: a kind of user learned from someone's past (habits.ts) is confident, and rightly so while
 * they stay that kind. When an SMS person stops answering SMS, the kind reads their silence as "now
 * rarely engages" and rates the channels they never tried as low as before: the learner kept sending
 * SMS for weeks. The learner ignoring time, with no kinds, tries the others sooner. Deciding from
 * the recent evidence alone once a change shows, as a monitored bandit restarts (Cao et al., 2019),
 * puts the kinds' question afresh: what kind is this user now?
 */
export function habitsChanged(evidence: Evidence, recent: BandEvidence, now: number, halfLifeDays: number): boolean {
  for (const c of CHANNELS) {
    let [n, k] = [0, 0];
    for (const b of BANDS) {
      const e = decayed(recent[b]?.[c], now, RECENT_HALF_LIFE_DAYS);
      n += e.sent;
      k += Math.min(e.engaged, e.sent);
    }
    if (n < 1) continue;
    const all = decayed(evidence[c], now, halfLifeDays);
    const before = Math.max(0, all.sent - n);
    if (before < 2) continue;
    const engagedBefore = Math.min(before, Math.max(0, all.engaged - k));
    const p = Math.min(0.95, Math.max(0.05, (engagedBefore + 0.5) / (before + 1)));
    if (Math.abs(k - n * p) > CHANGE_Z * Math.sqrt(n * p * (1 - p))) return true;
  }
  return false;
}

/**
 * Each channel's posterior in `band`. With the population's habits (`o.habits`, habits.ts): the
 * kinds' (kindsPosteriors), mixed with the learner's without them as far as the kinds are not
 * trusted (trusted). Without (the band learner
 * alone, kept as the bench's reference): the overall posterior (without the band), the band's
 * effect, the band's evidence.
 */
export function bandPosteriors(
  overall: Partial<Record<Channel, Posterior>>,
  evidence: Evidence,
  bands: BandEvidence,
  effects: BandEffects,
  band: Band,
  o: { now: number; halfLifeDays: number; habits?: Habits; recent?: BandEvidence },
): Partial<Record<Channel, Posterior>> {
  if (o.habits)
    return trusted(
      kindsPosteriors(overall, evidence, bands, band, { ...o, habits: o.habits }),
      overall,
      o.habits.trust,
    );
  const out: Partial<Record<Channel, Posterior>> = {};
  for (const [c, p] of Object.entries(overall) as Array<[Channel, Posterior]>) {
    const inBand = decayed(bands[band]?.[c], o.now, o.halfLifeDays);
    const all = decayed(evidence[c], o.now, o.halfLifeDays);
    // the overall posterior without the band's own evidence (it is added below, once)
    const a0 = Math.max(UNINFORMED.a / 4, p.a - Math.min(inBand.engaged, all.engaged));
    const b0 = Math.max(
      UNINFORMED.b / 4,
      p.b - Math.min(Math.max(0, inBand.sent - inBand.engaged), Math.max(0, all.sent - all.engaged)),
    );
    const mean = bandMean(a0 / (a0 + b0), effects[bandKey(c, band)]);
    const tied = Math.min(a0 + b0, BAND_STRENGTH) * bandTie(inBand.engaged, inBand.sent, mean);
    const strength = Math.max(Math.min(a0 + b0, MIN_BAND_STRENGTH), tied);
    const centre: Beta = { a: mean * strength, b: (1 - mean) * strength };
    const a = centre.a + inBand.engaged;
    const b = centre.b + Math.max(0, inBand.sent - inBand.engaged);
    out[c] = { a, b, score: { ...p.score, expected: Math.round((a / (a + b)) * 1000) / 1000 } };
  }
  return out;
}

/**
 * Each channel's posterior in `band` from the population's kinds alone: the mixture of the kinds the
 * user's evidence per band points to (their recent evidence alone, `o.recent`, once their habits
 * changed: habitsChanged).
 */
export function kindsPosteriors(
  overall: Partial<Record<Channel, Posterior>>,
  evidence: Evidence,
  bands: BandEvidence,
  band: Band,
  o: { now: number; halfLifeDays: number; habits: Habits; recent?: BandEvidence },
): Partial<Record<Channel, Posterior>> {
  const out: Partial<Record<Channel, Posterior>> = {};
  // the kinds are asked from the recent evidence alone once the user's habits changed
  const askedFrom = o.recent && habitsChanged(evidence, o.recent, o.now, o.halfLifeDays) ? o.recent : bands;
  const { counts, r } = userKind(o.habits, askedFrom);
  for (const [c, p] of Object.entries(overall) as Array<[Channel, Posterior]>) {
    const { a, b } = habitPosterior(o.habits, counts, c, band, r);
    out[c] = { a, b, score: { ...p.score, expected: Math.round((a / (a + b)) * 1000) / 1000 } };
  }
  return out;
}

/** Trusted this far (habits.ts's trustOf), the kinds are used alone: no data yet says otherwise. */
const TRUSTED = 0.999;
/**
 * The kinds' posteriors mixed with the learner's without them (`plain`: the overall posteriors,
 * ignoring time) by how far the kinds are trusted, each channel matched to one Beta (mixtureBeta).
 */
export function trusted(
  kinds: Partial<Record<Channel, Posterior>>,
  plain: Partial<Record<Channel, Posterior>>,
  trust: number,
): Partial<Record<Channel, Posterior>> {
  if (trust >= TRUSTED) return kinds;
  const out: Partial<Record<Channel, Posterior>> = {};
  for (const [c, k] of Object.entries(kinds) as Array<[Channel, Posterior]>) {
    const { a, b } = mixtureBeta([
      [k, trust],
      [plain[c] ?? k, 1 - trust],
    ]);
    out[c] = { a, b, score: { ...k.score, expected: Math.round((a / (a + b)) * 1000) / 1000 } };
  }
  return out;
}

/**
 * The band posteriors as the channel at a fixed time is chosen from: each as confident as the
 * channel's overall posterior at least, so a channel is explored as a channel, not once per band
 * (a band's thin evidence is no reason to try again what the user's whole history already rates:
 * that cost flat users up to 2 points in `npm run simulate`). Choosing the band as well (best-time
 * sends) keeps the band's own uncertainty, which is what makes it try a band it knows little of.
 */
export function forChannelChoice(
  band: Partial<Record<Channel, Posterior>>,
  overall: Partial<Record<Channel, Posterior>>,
): Partial<Record<Channel, Posterior>> {
  const out: Partial<Record<Channel, Posterior>> = {};
  for (const [c, p] of Object.entries(band) as Array<[Channel, Posterior]>) {
    const o = overall[c] as Posterior;
    const n = Math.max(p.a + p.b, o.a + o.b);
    const m = p.a / (p.a + p.b);
    out[c] = { ...p, a: m * n, b: (1 - m) * n };
  }
  return out;
}

/**
 * Best-time sends: the band and channel with the best rating (the band's posterior mean plus the
 * router's exploration bonus) among `candidates`, the bands a send may go out in (the simulation's
 * model of best-time.ts).
 */
export function bestBand(
  candidates: Partial<Record<Band, Partial<Record<Channel, Posterior>>>>,
  random: () => number = Math.random,
): { band: Band; channel: Channel; expected: number } | undefined {
  let best: { band: Band; channel: Channel; expected: number; r: number } | undefined;
  for (const b of BANDS) {
    const post = candidates[b];
    if (!post) continue;
    for (const c of CHANNELS) {
      const p = post[c];
      if (!p) continue;
      const r = rating(p) + random() * 1e-9;
      if (!best || r > best.r) best = { band: b, channel: c, expected: p.score.expected, r };
    }
  }
  return best && { band: best.band, channel: best.channel, expected: best.expected };
}
