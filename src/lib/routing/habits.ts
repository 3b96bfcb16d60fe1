/**
 * The population's habits, learned: a mixture of a few kinds of user, each with its own engagement
 * rate per channel and band of the day, fitted by incremental EM from the same evidence the band
 * learner keeps (bands.ts), pure (no I/O).
 *
 * Why: one Beta per channel and one effect per band cannot say that a user whose daytime emails
 * are read is likely to answer SMS in the evening, or that one who answers calls does not read
 * email. Real populations are made of such kinds (desk workers, people at home by day, SMS people,
 * the hard to reach), and a user's first two or three answers say which kind they are. Measured with
 * `npm run bench:learning -- --seeds 1..20` (120 users, 20 notifications), beside the band learner
 * alone: +7 points on the time-varying population, +23 on strong crossover between bands, +1 to
 * +1.5 on the flat ones (docs/learning.md). It costs users whose best channel changes: a kind
 * learned from their past is slow to give way (`npm run simulate`'s population 4).
 *
 * - **Kinds.** One per channel and part of the day (all day, by day, in the evening), and one that
 *   rarely engages: built from the one list of channels, so a new channel brings its kinds. Each
 *   starts from that shape (2 pseudo-trials per channel and band) and is then whatever the users
 *   it explains make it: the desk worker's kind, seeded as "email by day", learns that its users
 *   answer SMS in the evening.
 * - **A user's kind** is a posterior (responsibilities) from their evidence per band: the
 *   beta-binomial likelihood of what they did under each kind's rates, times the kind's share.
 * - **Sums that add up across users and shards.** Each user adds responsibility × their counts to
 *   each kind's sums (`HabitSums`, beside the learner's other sums in the prior). The
 *   responsibilities a user's counts were added with are kept in their evidence document, so a
 *   change takes back exactly what was added before: incremental EM (Neal and Hinton, 1998).
 *   Responsibilities under MIN_SHARE are left out (and the rest renormalised): the sums stay small.
 * - **A channel's posterior in a band** is the mixture of each kind's Beta updated by the user's own
 *   counts in that band, matched to one Beta by its mean and variance, so the router's rating and
 *   exploration bonus apply unchanged. A kind's rate is itself an estimate from its users' sends
 *   (`trials`), and where they are few its uncertainty widens the posterior: a channel@band the
 *   population has seldom been sent on is explored rather than taken at the seed's guess.
 */
import { type Channel, CHANNELS } from '../channel-list';
import { type Band, BANDS } from './band-names';
import type { Beta } from './learn';

/** The parts of the day a kind of user may favour a channel in. */
const PARTS: Record<string, readonly Band[]> = {
  allday: BANDS,
  day: ['morning', 'afternoon'],
  evening: ['evening', 'night'],
};
/** The kind that rarely engages on any channel. */
const RARELY = 'rarely';

/** A channel's rate in a band where a kind favours it, and where it does not, as seeded. */
const SEED_FAVOURED = 0.6;
const SEED_OTHER = 0.1;
/** How many trials a kind's seed weighs in each channel and band (its users' evidence soon outweighs it). */
const SEED_TRIALS = 2;
/**
 * How close the users of one kind are to its rates: a kind's rate is the mean of a Beta of this
 * strength. Measured on a prototype (16 kinds, no carry-over between bands) with
 * `npm run bench:learning -- --seeds 1..10`: 4 and 10 within 0.9 points of 6 on every population
 * but strong crossover (91.0 at 4, 90.2 at 6, 88.9 at 10).
 */
const KIND_STRENGTH = 6;
/** Responsibilities under this are left out of a user's sums (1 % to 2 % measured the same as none left out). */
export const MIN_SHARE = 0.02;

/** The key of a channel in a band (bands.ts's bandKey, the same keys the band sums use). */
const keyOf = (c: Channel, b: Band) => `${c}@${b}`;
const KEYS: readonly string[] = CHANNELS.flatMap((c) => BANDS.map((b) => keyOf(c, b)));

interface Kind {
  name: string;
  /** the seed rate per channel@band */
  seed: Record<string, number>;
}

/** Every kind, by name: `<CHANNEL>:<part>` and `rarely`. */
export const KINDS: readonly Kind[] = [
  ...CHANNELS.flatMap((c) =>
    Object.entries(PARTS).map(([part, bands]) => ({
      name: `${c}:${part}`,
      seed: Object.fromEntries(
        CHANNELS.flatMap((x) =>
          BANDS.map((b) => [keyOf(x, b), x === c && bands.includes(b) ? SEED_FAVOURED : SEED_OTHER]),
        ),
      ),
    })),
  ),
  { name: RARELY, seed: Object.fromEntries(KEYS.map((k) => [k, SEED_OTHER / 3])) },
];
const KIND_NAMES: ReadonlySet<string> = new Set(KINDS.map((k) => k.name));

/** One kind's sums: Σ responsibility (w), and per channel@band Σ responsibility × [sent, engaged]. */
export interface HabitSum {
  w: number;
  t: Partial<Record<string, [number, number]>>;
}
export type HabitSums = Partial<Record<string, HabitSum>>;

/** A user's responsibilities: the share of each kind (only those at MIN_SHARE or more). */
export type Responsibilities = Partial<Record<string, number>>;

/**
 * What the learner knows of the population's habits: each kind's share and rate per channel@band,
 * and how far the kinds are trusted against the learner without them (`trust`, 0 to 1: trustOf).
 */
export interface Habits {
  kinds: Array<{
    name: string;
    share: number;
    rate: Record<string, number>;
    /** per channel@band, the sends its rate rests on (its users' share of them, and the seed's) */
    trials: Record<string, number>;
  }>;
  trust: number;
}

/** A user's counts per channel@band, as the band evidence holds them (already faded). */
export type BandCounts = Partial<Record<string, { sent: number; engaged: number }>>;

/** The population's habits from its sums (before any data: the seeds, every kind equally likely). */
export function habitsOf(sums: HabitSums): Habits {
  const total = KINDS.reduce((acc, k) => acc + Math.max(0, sums[k.name]?.w ?? 0), 0);
  return {
    kinds: KINDS.map((kind) => {
      const s = sums[kind.name];
      const [rate, trials]: Array<Record<string, number>> = [{}, {}];
      for (const key of KEYS) {
        const [n, k] = s?.t[key] ?? [0, 0];
        trials[key] = Math.max(0, n) + SEED_TRIALS;
        const r = (Math.max(0, k) + SEED_TRIALS * kind.seed[key]) / trials[key];
        rate[key] = Math.min(0.98, Math.max(0.005, r));
      }
      return { name: kind.name, share: (Math.max(0, s?.w ?? 0) + 1) / (total + KINDS.length), rate, trials };
    }),
    trust: trustOf(sums),
  };
}

// ---- how well the kinds predict: the population's log scores, the kinds against the learner without them
/**
 * Why: the kinds are a model of the population, and a model can be wrong for it. Early on they are
 * learned from few users who tried few channels; when users change their habits, a kind learned from
 * their past keeps rating the channels they never tried as low as before. Measured with `npm run
 * simulate` (3,000 users): on the cohorts of population 2 at 10 notifications the kinds earned 73.6
 * % against 75.0 for the learner without them, and on population 4 sent weekly 57.3 against 64.5.
 *
 * So each send routed with the kinds is scored twice: the log of the probability each model gave
 * its outcome (Dawid's prequential principle: a model is as good as its forecasts). The sums are
 * kept beside the kinds' (a `fit` entry of the habits' sums: one list item, every shard, the same
 * fold), each user's share faded with their evidence. The kinds are trusted by the posterior odds
 * of the two models: TRUST_PRIOR_LOG_ODDS in their favour, plus the difference of the scores. With
 * a few hundred sends the prior decides; with thousands, the forecasts do.
 */
export const FIT = 'fit';
/**
 * The prior log odds for the kinds. Measured with `npm run bench:learning -- --seeds 1..20` (120
 * users, where a day's sends cannot yet tell the models apart) and `npm run simulate`: 0 cost the
 * which-channel population 1.3 points and WhatsApp 1.1; 5 and 15 kept them within 0.4 points, and
 * both mended `simulate`'s populations 2 and 4 at 10 notifications and population 4 sent weekly.
 */
export const TRUST_PRIOR_LOG_ODDS = 15;
/** A send's predicted engagement is clamped to this far from 0 and 1 (a log score stays finite). */
const SCORE_CLAMP = 0.001;

/** What each model predicted for a send: the probability of engagement on the channel it went out on. */
export interface Predicted {
  habits: number;
  plain: number;
}
/** A user's log scores (faded with the evidence, as of `at`), and the predictions still awaiting an engagement. */
export interface UserFit {
  habits: number;
  plain: number;
  at: number;
}
/** [key of the send, the kinds' prediction, the plain learner's]: the last PENDING_KEPT sends */
export type Pending = Array<[string, number, number]>;
/** sends whose predictions wait for an engagement (a later engagement is not scored: rare, and only the score misses it) */
export const PENDING_KEPT = 8;

const clamp = (p: number) => Math.min(1 - SCORE_CLAMP, Math.max(SCORE_CLAMP, p));
const fade = (fit: UserFit | undefined, now: number, halfLifeDays: number): UserFit => {
  if (!fit) return { habits: 0, plain: 0, at: now };
  const f = 0.5 ** (Math.max(0, now - fit.at) / (halfLifeDays * 86_400_000));
  return { habits: fit.habits * f, plain: fit.plain * f, at: Math.max(now, fit.at) };
};
const rounded = (x: number) => Math.round(x * 1e4) / 1e4;
const stored = (fit: UserFit): UserFit => ({ habits: rounded(fit.habits), plain: rounded(fit.plain), at: fit.at });

/** A send routed with the kinds: scored as not engaged (an engagement later corrects it) and its predictions kept. */
export function scoreSend(
  fit: UserFit | undefined,
  pending: Pending,
  key: string,
  predicted: Predicted,
  o: { now: number; halfLifeDays: number },
): { fit: UserFit; pending: Pending } {
  // to 4 decimals, as the document keeps them (the score and its correction use the same numbers)
  const [h, p] = [rounded(clamp(predicted.habits)), rounded(clamp(predicted.plain))];
  const f = fade(fit, o.now, o.halfLifeDays);
  return {
    fit: stored({ habits: f.habits + Math.log(1 - h), plain: f.plain + Math.log(1 - p), at: f.at }),
    pending: [...pending.filter(([k]) => k !== key), [key, h, p] as [string, number, number]].slice(-PENDING_KEPT),
  };
}

/** The engagement of a send still pending: its score turned from log(1 − p) to log(p). */
export function scoreEngagement(
  fit: UserFit | undefined,
  pending: Pending,
  key: string,
  o: { now: number; halfLifeDays: number },
): { fit: UserFit | undefined; pending: Pending } {
  const found = pending.find(([k]) => k === key);
  if (!found) return { fit, pending };
  const [, h, p] = found;
  const f = fade(fit, o.now, o.halfLifeDays);
  return {
    fit: stored({
      habits: f.habits + Math.log(h) - Math.log(1 - h),
      plain: f.plain + Math.log(p) - Math.log(1 - p),
      at: f.at,
    }),
    pending: pending.filter(([k]) => k !== key),
  };
}

/** What replacing a user's log scores `before` by `after` adds to the habits' sums (the `fit` entry). */
export function fitSumsDelta(before: UserFit | undefined, after: UserFit | undefined): HabitSums {
  const [h, p] = [(after?.habits ?? 0) - (before?.habits ?? 0), (after?.plain ?? 0) - (before?.plain ?? 0)];
  return h === 0 && p === 0 ? {} : { [FIT]: { w: 0, t: { habits: [0, h], plain: [0, p] } } };
}

/** How far the kinds are trusted (0 to 1): the posterior probability that they forecast better. */
export function trustOf(sums: HabitSums): number {
  const t = sums[FIT]?.t;
  const odds = TRUST_PRIOR_LOG_ODDS + (t?.habits?.[1] ?? 0) - (t?.plain?.[1] ?? 0);
  return 1 / (1 + Math.exp(-Math.max(-50, Math.min(50, odds))));
}

/** A stored user's log scores and pending predictions (anything unusable: none). */
export function userFitOf(fit: unknown, pending: unknown): { fit?: UserFit; pending: Pending } {
  const f = fit as Partial<UserFit> | undefined;
  const valid =
    f &&
    [f.habits, f.plain].every((x) => typeof x === 'number' && Number.isFinite(x) && x <= 0) &&
    Number.isSafeInteger(f.at);
  const kept = Array.isArray(pending)
    ? (pending.filter(
        (x) =>
          Array.isArray(x) &&
          x.length === 3 &&
          typeof x[0] === 'string' &&
          [x[1], x[2]].every((p) => typeof p === 'number' && p > 0 && p < 1),
      ) as Pending)
    : [];
  return { ...(valid ? { fit: f as UserFit } : {}), pending: kept.slice(-PENDING_KEPT) };
}

/**
 * ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b), by Lanczos' approximation of ln Γ (g = 7, 9 terms;
 * 15 digits). Written here rather than imported: the numerical packages that have it weigh more
 * than every function's cold start can spare (issue 30 measures it), for ten lines.
 */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];
function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const t = x + 6.5;
  let a = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i] / (x + i - 1);
  return 0.5 * Math.log(2 * Math.PI) + (x - 0.5) * Math.log(t) - t + Math.log(a);
}
export const logBeta = (a: number, b: number) => logGamma(a) + logGamma(b) - logGamma(a + b);

/** Each kind's posterior share for a user with these counts (all kinds, summing to 1). */
export function responsibilities(habits: Habits, counts: BandCounts): number[] {
  const logw = habits.kinds.map(({ share, rate }) => {
    let l = Math.log(share);
    for (const [key, c] of Object.entries(counts)) {
      if (!c || c.sent <= 0 || rate[key] === undefined) continue;
      const [a, b] = [KIND_STRENGTH * rate[key], KIND_STRENGTH * (1 - rate[key])];
      const k = Math.min(c.engaged, c.sent);
      l += logBeta(a + k, b + c.sent - k) - logBeta(a, b);
    }
    return l;
  });
  const top = Math.max(...logw);
  const w = logw.map((x) => Math.exp(x - top));
  const total = w.reduce((acc, x) => acc + x, 0);
  return w.map((x) => x / total);
}

/** The responsibilities a user's sums are added with: those at MIN_SHARE or more, renormalised, to 3 decimals. */
export function kept(habits: Habits, all: number[]): Responsibilities {
  const over = all.map((r, i) => [habits.kinds[i].name, r] as const).filter(([, r]) => r >= MIN_SHARE);
  const total = over.reduce((acc, [, r]) => acc + r, 0);
  return Object.fromEntries(over.map(([name, r]) => [name, Math.round((r / total) * 1000) / 1000]));
}

/** A stored user's responsibilities (anything unknown or out of range left out). */
export function responsibilitiesOf(data: unknown): Responsibilities {
  if (!data || typeof data !== 'object') return {};
  return Object.fromEntries(
    Object.entries(data as Record<string, unknown>).filter(
      ([name, r]) => KIND_NAMES.has(name) && typeof r === 'number' && r >= 0 && r <= 1,
    ),
  ) as Responsibilities;
}

/** What a user with these responsibilities and counts adds to the habits' sums. */
function contribution(r: Responsibilities, counts: BandCounts): HabitSums {
  const tried = Object.entries(counts).filter(([, c]) => c && c.sent > 0);
  if (tried.length === 0) return {};
  const out: HabitSums = {};
  for (const [name, share] of Object.entries(r) as Array<[string, number]>) {
    out[name] = {
      w: share,
      t: Object.fromEntries(
        tried.map(([key, c]) => [key, [share * (c?.sent ?? 0), share * Math.min(c?.engaged ?? 0, c?.sent ?? 0)]]),
      ),
    };
  }
  return out;
}

/** `a + sign × b`, kind by kind and key by key; what adds up to nothing is left out. */
export function addHabitSums(a: HabitSums, b: HabitSums, sign = 1): HabitSums {
  const out: HabitSums = {};
  const tiny = (x: number) => Math.abs(x) < 1e-9;
  for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const [x, y] = [a[name], b[name]];
    const t: HabitSum['t'] = {};
    for (const key of new Set([...Object.keys(x?.t ?? {}), ...Object.keys(y?.t ?? {})])) {
      const [n1, k1] = x?.t[key] ?? [0, 0];
      const [n2, k2] = y?.t[key] ?? [0, 0];
      const [n, k] = [n1 + sign * n2, k1 + sign * k2];
      if (!tiny(n) || !tiny(k)) t[key] = [n, k];
    }
    const w = (x?.w ?? 0) + sign * (y?.w ?? 0);
    if (!tiny(w) || Object.keys(t).length) out[name] = { w, t };
  }
  return out;
}

/**
 * Adds `more` into `into`, in place: a webhook's pooled prior adds every user's change to one growing
 * sum, and addHabitSums would copy that sum once per user. What adds up to nothing stays (a list
 * item's rounding leaves it out).
 */
export function addHabitSumsInto(into: HabitSums, more: HabitSums): void {
  for (const [name, m] of Object.entries(more) as Array<[string, HabitSum]>) {
    const s = into[name] ?? { w: 0, t: {} };
    into[name] = s;
    s.w += m.w;
    for (const [key, v] of Object.entries(m.t) as Array<[string, [number, number]]>) {
      const [n, k] = s.t[key] ?? [0, 0];
      s.t[key] = [n + v[0], k + v[1]];
    }
  }
}

/** What replacing a user's (responsibilities, counts) `before` by `after` adds to the habits' sums. */
export function habitSumsDelta(
  before: { r: Responsibilities; counts: BandCounts },
  after: { r: Responsibilities; counts: BandCounts },
): HabitSums {
  return addHabitSums(contribution(after.r, after.counts), contribution(before.r, before.counts), -1);
}

const FIT_KEYS: ReadonlySet<string> = new Set(['habits', 'plain']);
/** Sums as stored: known kinds and keys, and the `fit` entry, finite numbers (anything else counts as nothing). */
export function habitSumsOf(data: unknown): HabitSums {
  if (!data || typeof data !== 'object') return {};
  const out: HabitSums = {};
  const keys = new Set(KEYS);
  for (const [name, s] of Object.entries(data as Record<string, unknown>)) {
    const sum = s as Partial<HabitSum> | undefined;
    const known = name === FIT ? FIT_KEYS : keys;
    if (
      !(KIND_NAMES.has(name) || name === FIT) ||
      !sum ||
      !Number.isFinite(sum.w) ||
      !sum.t ||
      typeof sum.t !== 'object'
    )
      continue;
    const t = Object.fromEntries(
      Object.entries(sum.t).filter(
        ([key, v]) => known.has(key) && Array.isArray(v) && v.length === 2 && v.every((x) => Number.isFinite(x)),
      ),
    ) as HabitSum['t'];
    out[name] = { w: sum.w as number, t };
  }
  return out;
}

/** Three decimals, and what rounds to nothing left out: a list item of the prior stays small. */
export function roundHabitSums(sums: HabitSums): HabitSums {
  const out: HabitSums = {};
  for (const [name, s] of Object.entries(sums) as Array<[string, HabitSum]>) {
    // the log scores' changes are differences of the documents' 4-decimal scores: kept at 4 decimals
    // they add up exactly (at 3, a thousand sends of one forecast all round the same way)
    const digits = name === FIT ? 1e4 : 1e3;
    const r = (x: number) => Math.round(x * digits) / digits;
    const t = Object.fromEntries(
      Object.entries(s.t)
        .map(([key, v]): [string, [number, number]] => [key, [r(v?.[0] ?? 0), r(v?.[1] ?? 0)]])
        .filter(([, [n, k]]) => n !== 0 || k !== 0),
    );
    if (r(s.w) !== 0 || Object.keys(t).length) out[name] = { w: r(s.w), t };
  }
  return out;
}

/**
 * Each channel's posterior in `band` for a user with these counts: the mixture over kinds (weighted
 * by the user's responsibilities) of Beta(strength × the kind's rate + the user's counts in the band),
 * matched to one Beta by mean and variance.
 *
 * A kind's rate in a channel@band its users were seldom sent on is the seed's guess (about 0.1 where
 * the kind does not favour the channel), not knowledge: its uncertainty is added to the posterior's
 * variance, so the exploration bonus is larger where the population has not been tried. Without it,
 * the kinds rated a channel no one had been sent yet at about 0.19 as firmly as one with thousands of
 * sends, and the router did not try it: on `npm run simulate`'s population 1 (seed 7), the time-aware
 * learner sent email to 70 % of users on the first day while SMS was the better channel, and earned
 * 84.1 % at 10 notifications against 85.2 for the learner ignoring time; with it, 84.7. The means are
 * unchanged, so a channel@band with many sends routes as before (docs/learning.md has the figures).
 */
export function habitPosterior(
  habits: Habits,
  counts: BandCounts,
  channel: Channel,
  band: Band,
  r = responsibilities(habits, counts),
): Beta {
  const key = keyOf(channel, band);
  const c = counts[key];
  const [n, k] = [c?.sent ?? 0, Math.min(c?.engaged ?? 0, c?.sent ?? 0)];
  const others = BANDS.filter((b) => b !== band)
    .map((b) => [keyOf(channel, b), counts[keyOf(channel, b)]] as const)
    .filter(([, x]) => x && x.sent > 0) as Array<[string, { sent: number; engaged: number }]>;
  return mixtureBeta(
    habits.kinds.map(({ rate, trials }, i) => {
      // the user's evidence in the channel's other bands, carried over by the kind's ratio between
      // the bands: without it a flat user's evidence was split four ways, and flat populations lost
      // 1 to 4 points to the learner ignoring time (`npm run simulate`, populations 1 to 3)
      let [on, ok] = [0, 0];
      for (const [other, x] of others) {
        on += x.sent;
        ok += Math.min(x.sent, Math.min(x.engaged, x.sent) * (rate[key] / rate[other]));
      }
      const a = KIND_STRENGTH * rate[key] + k + ok;
      const b = KIND_STRENGTH * (1 - rate[key]) + n - k + on - ok;
      // the kind's rate is itself an estimate, from `trials` sends (a Beta's variance, r(1 − r) / (N + 1));
      // it moves this user's posterior mean by KIND_STRENGTH / (a + b) of any error in it
      const uncertain = ((KIND_STRENGTH / (a + b)) ** 2 * rate[key] * (1 - rate[key])) / (trials[key] + 1);
      return [{ a, b }, r[i], uncertain] as const;
    }),
  );
}

/**
 * A mixture of Betas, each with its weight, matched to one Beta by its mean and variance: so the
 * router's rating and exploration bonus apply to a mixture as to any posterior. A part's third
 * element is the variance of its mean, when that mean is itself uncertain (a kind's rate).
 */
export function mixtureBeta(parts: ReadonlyArray<readonly [Beta, number, number?]>): Beta {
  let [m, m2] = [0, 0];
  for (const [{ a, b }, w, meanVariance = 0] of parts) {
    const mean = a / (a + b);
    m += w * mean;
    m2 += w * (mean * mean + (a * b) / ((a + b) ** 2 * (a + b + 1)) + meanVariance);
  }
  const variance = Math.max(1e-9, m2 - m * m);
  const strength = Math.max(0.1, (m * (1 - m)) / variance - 1);
  return { a: m * strength, b: (1 - m) * strength };
}

/** A user's band evidence as counts per channel@band. */
export function countsOf(bands: Partial<Record<Band, Partial<Record<Channel, { sent: number; engaged: number }>>>>) {
  const out: BandCounts = {};
  for (const b of BANDS)
    for (const c of CHANNELS) {
      const e = bands[b]?.[c];
      if (e && e.sent > 0) out[keyOf(c, b)] = { sent: e.sent, engaged: e.engaged };
    }
  return out;
}
