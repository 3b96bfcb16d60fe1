// What `npm run simulate` and `npm run bench:learning` share: the learner as the service bundles
// it, and the draws of synthetic users' engagement probabilities.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** src/lib/routing's learn.ts and bands.ts, bundled as is into .build/<folder>/ and imported. */
export async function importLearner(folder) {
  const out = `${root}.build/${folder}/learn.mjs`;
  await build({
    stdin: {
      contents: "export * from './learn'; export * from './bands'; export * from './habits';",
      resolveDir: `${root}src/lib/routing`,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    logLevel: 'error',
  });
  return import(pathToFileURL(out).href);
}

// ---- drawing each synthetic user's engagement probabilities: Beta(a, b) as Gamma(a) / (Gamma(a) + Gamma(b))
function normal(rand) {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
/** Gamma(shape, 1) by Marsaglia–Tsang; shape < 1 by the boost u^(1/shape) */
function gamma(shape, rand) {
  if (shape < 1) return gamma(shape + 1, rand) * Math.max(rand(), 1e-12) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = normal(rand);
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = rand();
    if (Math.log(Math.max(u, 1e-12)) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}
/** A draw of Beta(a, b) from `rand`; Beta(0, b) is 0 (never engages) */
export function beta(rand, a, b) {
  if (a === 0) return 0;
  const x = gamma(a, rand);
  return x / (x + gamma(b, rand));
}

/**
 * What the service records of one send, on a user's `state` ({ evidence, bands, recent, habit, fit, pending }): the send,
 * and the engagement when there was one, overall and in the band it went out in. With the
 * population's `habits` (habits.ts), the user's counts are added to the kinds' sums again with the
 * responsibilities their evidence before the send gives (as /notify's evidence write does). With
 * `predicted` (what the kinds and the learner without them forecast for the send, as route.ts
 * answers), both are scored by the outcome. Answers what it adds to the population's sums and to the
 * habits' sums.
 */
export function recordSend(L, state, channel, engaged, now, band, halfLifeDays, habits, predicted) {
  const [before, beforeBands, beforeHabit] = [state.evidence, state.bands, state.habit ?? {}];
  let ev = L.observe(before, channel, 'sent', now, halfLifeDays);
  let bands = L.observeInBand(beforeBands, band, channel, 'sent', now, halfLifeDays);
  if (engaged) {
    ev = L.observe(ev, channel, 'engaged', now, halfLifeDays);
    bands = L.observeInBand(bands, band, channel, 'engaged', now, halfLifeDays);
  }
  const habit = habits ? L.kept(habits, L.responsibilities(habits, L.countsOf(beforeBands))) : beforeHabit;
  // the same, fading faster: what the user did lately (bands.ts's habitsChanged)
  let recent = L.observeInBand(state.recent ?? {}, band, channel, 'sent', now, L.RECENT_HALF_LIFE_DAYS);
  if (engaged) recent = L.observeInBand(recent, band, channel, 'engaged', now, L.RECENT_HALF_LIFE_DAYS);
  // the models' forecasts, scored by the outcome (habits.ts's scoreSend and scoreEngagement)
  const fitBefore = state.fit;
  let scored = { fit: state.fit, pending: state.pending ?? [] };
  if (predicted) {
    const key = `send-${now}-${channel}`;
    scored = L.scoreSend(scored.fit, scored.pending, key, predicted, { now, halfLifeDays });
    if (engaged) scored = L.scoreEngagement(scored.fit, scored.pending, key, { now, halfLifeDays });
  }
  state.evidence = ev;
  state.bands = bands;
  state.recent = recent;
  state.habit = habit;
  state.fit = scored.fit;
  state.pending = scored.pending;
  return {
    sums: L.addSums(L.sumsDelta(before, ev), L.bandSumsDelta(beforeBands, bands)),
    habits: L.addHabitSums(
      L.habitSumsDelta({ r: beforeHabit, counts: L.countsOf(beforeBands) }, { r: habit, counts: L.countsOf(bands) }),
      L.fitSumsDelta(fitBefore, scored.fit),
    ),
  };
}
