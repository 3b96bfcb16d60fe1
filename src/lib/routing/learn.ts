/**
 * The learning router's mathematics, pure (no I/O), shared by /notify,
 * /channel, the webhooks and `npm run simulate`:
 *
 * - a user's evidence per channel: notifications sent, engaged, failed, each
 *   fading with a half-life so that changed habits are followed;
 * - a population prior per channel, Beta(a, b), fitted by the method of
 *   moments of the beta-binomial from sums over users that add up across
 *   shards (so it is learned from the same data, never tuned constants);
 * - the policy: over the reachable channels, the best posterior mean plus an
 *   exploration bonus, from each channel's posterior
 *   Beta(a + engaged, b + sent − engaged).
 */
import { type Channel, CHANNELS } from '../channel-list';
import { BANDS } from './band-names';

export interface ChannelEvidence {
  /** decayed counts as of `at` (epoch ms) */
  sent: number;
  engaged: number;
  failed: number;
  at: number;
}

export type Evidence = Partial<Record<Channel, ChannelEvidence>>;

export type EvidenceKind = 'sent' | 'engaged' | 'failed';

const DAY_MS = 86_400_000;

/** `e` faded to `now`: each count times 0.5^(elapsed / half-life). */
export function decayed(e: ChannelEvidence | undefined, now: number, halfLifeDays: number): ChannelEvidence {
  if (!e) return { sent: 0, engaged: 0, failed: 0, at: now };
  const elapsed = Math.max(0, now - e.at);
  const f = halfLifeDays > 0 ? 0.5 ** (elapsed / (halfLifeDays * DAY_MS)) : 1;
  return { sent: e.sent * f, engaged: e.engaged * f, failed: e.failed * f, at: Math.max(now, e.at) };
}

/** One more observation of `kind` on `channel` (engaged never exceeds sent). */
export function observe(
  ev: Evidence,
  channel: Channel,
  kind: EvidenceKind,
  now: number,
  halfLifeDays: number,
): Evidence {
  const e = decayed(ev[channel], now, halfLifeDays);
  e[kind] += 1;
  if (e.sent < e.engaged) e.sent = e.engaged; // an engagement whose send we never saw still counts as tried
  return { ...ev, [channel]: e };
}

/**
 * Sums over users of one channel's evidence, additive across users and shards:
 * n = Σ sent, k = Σ engaged, nn = Σ sent·(sent−1), kk = Σ engaged·(engaged−1).
 */
export interface ChannelSums {
  users: number;
  n: number;
  k: number;
  nn: number;
  kk: number;
}
/** keyed by channel, and by channel@band for the bands' rates (bands.ts) */
export type PopulationSums = Partial<Record<string, ChannelSums>>;
/** the keys sums may hold: a channel, or a channel in a band of the day (from the one list of each) */
export const SUMS_KEYS: ReadonlySet<string> = new Set([
  ...CHANNELS,
  ...CHANNELS.flatMap((c) => BANDS.map((b) => `${c}@${b}`)),
]);
const keysOf = (...all: PopulationSums[]) =>
  [...new Set(all.flatMap((x) => Object.keys(x)))].filter((k) => SUMS_KEYS.has(k));

const zeroSums = (): ChannelSums => ({ users: 0, n: 0, k: 0, nn: 0, kk: 0 });

function contribution(e: ChannelEvidence | undefined): ChannelSums {
  if (!e || e.sent <= 0) return zeroSums();
  return { users: 1, n: e.sent, k: e.engaged, nn: e.sent * (e.sent - 1), kk: e.engaged * (e.engaged - 1) };
}

/** What replacing a user's evidence `before` by `after` adds to the population sums (may be negative). */
export function sumsDelta(before: Evidence, after: Evidence): PopulationSums {
  const delta: PopulationSums = {};
  for (const c of CHANNELS) {
    const [b, a] = [contribution(before[c]), contribution(after[c])];
    const d = { users: a.users - b.users, n: a.n - b.n, k: a.k - b.k, nn: a.nn - b.nn, kk: a.kk - b.kk };
    if (d.users || d.n || d.k || d.nn || d.kk) delta[c] = d;
  }
  return delta;
}

export function addSums(into: PopulationSums, more: PopulationSums): PopulationSums {
  const out: PopulationSums = { ...into };
  for (const c of keysOf(more)) {
    const m = more[c];
    if (!m) continue;
    const s = out[c] ?? zeroSums();
    out[c] = { users: s.users + m.users, n: s.n + m.n, k: s.k + m.k, nn: s.nn + m.nn, kk: s.kk + m.kk };
  }
  return out;
}

/** Sums as stored (a corrupt entry counts as nothing). */
export function sumsOf(data: unknown): PopulationSums {
  if (!data || typeof data !== 'object') return {};
  const out: PopulationSums = {};
  for (const c of keysOf(data as PopulationSums)) {
    const s = (data as Record<string, unknown>)[c] as Record<string, unknown> | undefined;
    if (s && ['users', 'n', 'k', 'nn', 'kk'].every((k) => Number.isFinite(s[k])))
      out[c] = s as unknown as PopulationSums[Channel];
  }
  return out;
}

/** `a − b`, channel by channel; channels with no difference left out (empty when equal). */
export function subtractSums(a: PopulationSums, b: PopulationSums): PopulationSums {
  const out: PopulationSums = {};
  const nonzero = (x: number) => Math.abs(x) > 1e-9;
  for (const c of keysOf(a, b)) {
    const [x, y] = [a[c] ?? zeroSums(), b[c] ?? zeroSums()];
    const d = { users: x.users - y.users, n: x.n - y.n, k: x.k - y.k, nn: x.nn - y.nn, kk: x.kk - y.kk };
    if (Object.values(d).some(nonzero)) out[c] = d;
  }
  return out;
}

export interface Beta {
  a: number;
  b: number;
}

/** With no population data yet: mean 1/2, as weak as one observation each way. */
export const UNINFORMED: Beta = { a: 1, b: 1 };
/** Below this many trials a channel's mean is shrunk towards UNINFORMED's. */
const MIN_TRIALS = 30;
/** Below this much repeat data (Σ sent·(sent−1)) the spread between users is shrunk towards a weak prior. */
const MIN_REPEATS = 200;
const WEAK_STRENGTH = 2;
const MAX_STRENGTH = 50;

/**
 * Beta(a, b) whose mean and spread match the population's: mean m = k/n, and
 * E[p²] from the beta-binomial identity E[k(k−1)] = n(n−1)·E[p²], so the
 * spread between users is separated from the noise of each user's few trials.
 * Thin data is trusted in proportion to its amount: a channel few users were
 * tried on keeps an optimistic, weak prior and is explored, never written off.
 */
export function fitPrior(s: ChannelSums | undefined): Beta {
  if (!s || s.n < 1) return UNINFORMED;
  const m = Math.min(0.99, Math.max(0.01, s.k / s.n));
  let fitted = WEAK_STRENGTH;
  if (s.nn > 0) {
    const variance = s.kk / s.nn - m * m;
    fitted =
      variance > 1e-6 ? Math.min(MAX_STRENGTH, Math.max(WEAK_STRENGTH, (m * (1 - m)) / variance - 1)) : MAX_STRENGTH;
  }
  const v = Math.min(1, Math.max(0, s.nn) / MIN_REPEATS);
  const strength = v * fitted + (1 - v) * WEAK_STRENGTH;
  const w = Math.min(1, s.n / MIN_TRIALS);
  const mean = w * m + (1 - w) * (UNINFORMED.a / (UNINFORMED.a + UNINFORMED.b));
  return { a: mean * strength, b: (1 - mean) * strength };
}

export type Priors = Partial<Record<Channel, Beta>>;

export function priorsOf(sums: PopulationSums): Priors {
  return Object.fromEntries(CHANNELS.map((c) => [c, fitPrior(sums[c])]));
}

/** Pseudo-evidence for a Segment `preferred_channel` trait with none of our own evidence yet. */
const TRAIT_PSEUDO = { sent: 2, engaged: 2 };

export interface Score {
  /** posterior mean engagement */
  expected: number;
  sent: number;
  engaged: number;
  failed: number;
}

export interface Posterior extends Beta {
  score: Score;
}

const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Each reachable channel's posterior, from the prior and the user's (faded) evidence. */
export function posteriors(
  reachable: readonly Channel[],
  priors: Priors,
  evidence: Evidence,
  o: { now: number; halfLifeDays: number; trait?: Channel },
): Partial<Record<Channel, Posterior>> {
  const noEvidence = CHANNELS.every((c) => !evidence[c] || evidence[c].sent <= 0);
  const out: Partial<Record<Channel, Posterior>> = {};
  for (const c of reachable) {
    const e = decayed(evidence[c], o.now, o.halfLifeDays);
    const prior = priors[c] ?? UNINFORMED;
    const pseudo = noEvidence && o.trait === c ? TRAIT_PSEUDO : { sent: 0, engaged: 0 };
    const a = prior.a + e.engaged + pseudo.engaged;
    const b = prior.b + Math.max(0, e.sent - e.engaged) + (pseudo.sent - pseudo.engaged);
    out[c] = {
      a,
      b,
      score: {
        expected: round(a / (a + b)),
        sent: round(e.sent, 2),
        engaged: round(e.engaged, 2),
        failed: round(e.failed, 2),
      },
    };
  }
  return out;
}

/** Each channel's score (what /channel answers, and `channel_scores` is made of). */
export function scoresOf(post: Partial<Record<Channel, Posterior>>): Partial<Record<Channel, Score>> {
  return Object.fromEntries(Object.entries(post).map(([c, p]) => [c, (p as Posterior).score]));
}

/**
 * How far above its posterior mean a channel is rated, in posterior standard deviations: an
 * optimistic bonus that shrinks as evidence grows, so thin evidence is explored and then exploited.
 * 1.5 measured best with `npm run simulate` (Thompson sampling explored too long at 10–50 notifications).
 */
const EXPLORATION_BONUS = 1.5;

/** The rating a channel is chosen by: posterior mean plus the exploration bonus. */
export function rating(p: Beta): number {
  const n = p.a + p.b;
  const mean = p.a / n;
  return mean + EXPLORATION_BONUS * Math.sqrt((mean * (1 - mean)) / (n + 1));
}

/**
 * Routing for value (ENGAGEMENT_VALUE, or `value` on the request): what one engagement is worth and
 * what a send on each channel is expected to cost, in one currency. A channel is then rated by
 * value × its engagement rating − its cost: the same optimism about thin evidence, weighed against
 * what trying costs.
 */
export interface Worth {
  value: number;
  costs: Partial<Record<Channel, number>>;
}

/** The rating a channel is chosen by: engagement's, or with `worth` its expected net value. */
export function worthRating(p: Beta, channel: Channel, worth?: Worth): number {
  return worth ? worth.value * rating(p) - (worth.costs[channel] ?? 0) : rating(p);
}

/** The reachable channel with the best rating; ties (a brand-new user of an unseen population) broken at random. */
export function chooseChannel(
  candidates: Partial<Record<Channel, Posterior>>,
  random: () => number = Math.random,
  worth?: Worth,
): Channel | undefined {
  let best: Channel | undefined;
  let bestRating = Number.NEGATIVE_INFINITY;
  for (const c of CHANNELS) {
    const p = candidates[c];
    if (!p) continue;
    const r = worthRating(p, c, worth) + random() * 1e-9;
    if (r > bestRating) [best, bestRating] = [c, r];
  }
  return best;
}

/** The channel with the highest expected engagement (for `best_channel`). */
export function bestChannel(candidates: Partial<Record<Channel, Posterior>>): Channel | undefined {
  let best: Channel | undefined;
  for (const c of CHANNELS) {
    const p = candidates[c];
    if (p && (!best || p.score.expected > (candidates[best] as Posterior).score.expected)) best = c;
  }
  return best;
}
