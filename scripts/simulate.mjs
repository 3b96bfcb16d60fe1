// `npm run simulate`: the learning router (src/lib/routing/learn.ts, the module
// /notify uses, bundled as is) against oracle, uniform random, the tutorial's
// "most frequent" policy and a ceiling, on four synthetic populations with a
// fixed seed. Each cell is the engagement a policy earns as a percentage of
// the oracle's (expected engagement of the channel chosen, summed).
//   node scripts/simulate.mjs [users=3000] [seed=7] [days between notifications=1] [--trace <population>]
import { Command } from 'commander';
import seedrandom from 'seedrandom';
import { beta, importLearner, recordSend } from './learner-model.mjs';

const cli = new Command()
  .argument('[users]', 'users per population', '3000')
  .argument('[seed]', 'seed of the users and outcomes', '7')
  .argument('[days]', 'days between notifications', '1')
  .option(
    '--trace <population>',
    "one of populations 1–4 alone, send by send: the kinds' trust the time-aware learner routed with, and each learner's share of the oracle (no checks)",
    Number,
  )
  .parse();
const [users, seed, days] = cli.processedArgs;
const TRACE = cli.opts().trace;
const USERS = Number(users);
const SEED = Number(seed);
// the learner and its time bands, as the service bundles them
const L = await importLearner('simulate');
const CHANNELS = ['SMS', 'CALL', 'EMAIL'];
const DAYS_BETWEEN = Number(days); // one notification per user per day, unless told
const HALF_LIFE_DAYS = 30; // the service's default EVIDENCE_HALF_LIFE_DAYS
const DAY = 86_400_000;

// ---- populations: each user has p[channel] (probability of engaging) and the channels that reach them
const COHORTS = [
  { share: 0.3, p: { SMS: [6, 4], CALL: [1, 9], EMAIL: [1.5, 8.5] } },
  { share: 0.25, p: { SMS: [1.5, 8.5], CALL: [5, 5], EMAIL: [1, 9] } },
  { share: 0.3, p: { SMS: [1.5, 8.5], CALL: [0.5, 9.5], EMAIL: [5.5, 4.5] } },
  { share: 0.15, p: { SMS: [0.3, 9.7], CALL: [0.3, 9.7], EMAIL: [0.3, 9.7] } }, // rarely engages
];
const INDEPENDENT = { SMS: [3, 5], CALL: [1, 5], EMAIL: [2, 4] };

function independentUser(rand) {
  return { p: Object.fromEntries(CHANNELS.map((c) => [c, beta(rand, ...INDEPENDENT[c])])), reach: [...CHANNELS] };
}
function cohortUser(rand) {
  const x = rand();
  const upTo = COHORTS.map((_, i) => COHORTS.slice(0, i + 1).reduce((a, k) => a + k.share, 0));
  const cohort = COHORTS[upTo.findIndex((edge) => x < edge)] ?? COHORTS[COHORTS.length - 1];
  return { p: Object.fromEntries(CHANNELS.map((c) => [c, beta(rand, ...cohort.p[c])])), reach: [...CHANNELS] };
}
const POPULATIONS = [
  { name: '1 independent Beta per channel', user: independentUser },
  { name: '2 cohorts (SMS, call, email, rarely)', user: cohortUser },
  {
    name: '3 as 1; 15 % no email, 10 % SMS opt-out',
    user: (rand) => {
      const u = independentUser(rand);
      if (rand() < 0.15) u.reach = u.reach.filter((c) => c !== 'EMAIL');
      if (rand() < 0.1) u.reach = u.reach.filter((c) => c !== 'SMS');
      return u;
    },
  },
  {
    name: '4 cohorts; best channel changes halfway',
    user: (rand) => {
      const u = cohortUser(rand);
      // halfway, the user's probabilities rotate: the best channel becomes another one
      const shift = 1 + Math.floor(rand() * 2);
      u.later = Object.fromEntries(CHANNELS.map((c, i) => [CHANNELS[(i + shift) % 3], u.p[c]]));
      return u;
    },
  },
];

// ---- policies: choose(state, user, t) → channel; learn(state, user, channel, engaged, t)
const best = (p, reach) => reach.reduce((a, c) => (p[c] > p[a] ? c : a));

function tutorial(rand) {
  return {
    choose: (s, u) => {
      const counts = s.engagements;
      const top = u.reach.reduce((a, c) => ((counts[c] ?? 0) > (counts[a] ?? 0) ? c : a));
      return (counts[top] ?? 0) >= 3 ? top : u.reach[Math.floor(rand() * u.reach.length)];
    },
    learn: (s, _u, c, engaged) => {
      if (engaged) s.engagements[c] = (s.engagements[c] ?? 0) + 1;
    },
  };
}

/** The service's learner; `priors` fixed (ceiling) or learned from the sums of everyone's evidence. */
function learner(rand, fixedPriors) {
  const shared = { sums: {}, priors: fixedPriors ?? L.priorsOf({}) };
  return {
    shared,
    round: () => {
      if (!fixedPriors) shared.priors = L.priorsOf(shared.sums); // the prior cache, refreshed as it grows
    },
    choose: (s, u, now) => {
      const post = L.posteriors(u.reach, shared.priors, s.evidence, { now, halfLifeDays: HALF_LIFE_DAYS });
      return L.chooseChannel(post, rand);
    },
    learn: (s, _u, c, engaged, now) => {
      const before = s.evidence;
      let ev = L.observe(before, c, 'sent', now, HALF_LIFE_DAYS);
      if (engaged) ev = L.observe(ev, c, 'engaged', now, HALF_LIFE_DAYS);
      shared.sums = L.addSums(shared.sums, L.sumsDelta(before, ev));
      s.evidence = ev;
    },
  };
}

/** Sends go out at a random hour of the waking day (08:00–20:59: the default quiet hours keep the night). */
const sendHour = (rand) => 8 + Math.floor(rand() * 13);
const WAKING = ['morning', 'afternoon', 'evening'];

/** The time-aware learner: per-band posteriors from the population's habits (habits.ts, bands.ts). */
function timeAware(rand, { bestTime = false } = {}) {
  const shared = { sums: {}, habitSums: {}, priors: L.priorsOf({}), effects: {}, habits: L.habitsOf({}) };
  const overallOf = (s, u, now) =>
    L.posteriors(u.reach, shared.priors, s.evidence, { now, halfLifeDays: HALF_LIFE_DAYS });
  // the kinds' posteriors, and what the router chooses from (trusted: mixed with the learner without them)
  const kindsOf = (s, now, band, overall) =>
    L.kindsPosteriors(overall, s.evidence, s.bands, band, {
      now,
      halfLifeDays: HALF_LIFE_DAYS,
      habits: shared.habits,
      recent: s.recent,
    });
  const mean = ({ a, b }) => a / (a + b);
  return {
    shared,
    round: () => {
      shared.priors = L.priorsOf(shared.sums);
      shared.effects = L.bandEffectsOf(shared.sums);
      shared.habits = L.habitsOf(shared.habitSums);
    },
    /** the channel for a send in `band`; best-time: the band too, among the waking ones */
    choose: (s, u, now, band, random = rand) => {
      const overall = overallOf(s, u, now);
      // the kinds' posteriors in each band the send may go out in, once
      const kindsIn = Object.fromEntries((bestTime ? WAKING : [band]).map((b) => [b, kindsOf(s, now, b, overall)]));
      const post = (b) => L.trusted(kindsIn[b], overall, shared.habits.trust);
      const pick = bestTime
        ? L.bestBand(Object.fromEntries(WAKING.map((b) => [b, post(b)])), random)
        : { channel: L.chooseChannel(post(band), random), band };
      // what the kinds and the learner without them forecast for the send (route.ts's `predicted`)
      s.predicted = { habits: mean(kindsIn[pick.band][pick.channel]), plain: mean(overall[pick.channel]) };
      return pick;
    },
    learn: (s, _u, c, engaged, now, band) => {
      const added = recordSend(L, s, c, engaged, now, band, HALF_LIFE_DAYS, shared.habits, s.predicted);
      shared.sums = L.addSums(shared.sums, added.sums);
      shared.habitSums = L.addHabitSums(shared.habitSums, added.habits);
    },
  };
}

/** Beta matching the true population moments of p per channel (what the ceiling is told). */
function truePriors(users, key) {
  return Object.fromEntries(
    CHANNELS.map((c) => {
      const xs = users.map((u) => u[key][c]);
      const m = xs.reduce((a, x) => a + x, 0) / xs.length;
      const v = xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length;
      const k = (m * (1 - m)) / v - 1;
      return [c, { a: m * k, b: (1 - m) * k }];
    }),
  );
}

function run(population, notifications) {
  const rand = seedrandom(String(SEED), { state: true });
  const users = Array.from({ length: USERS }, () => population.user(rand));
  for (const u of users) u.now = u.p;
  const switchAt = Math.floor(notifications / 2);
  const early = truePriors(users, 'p');
  const late = users[0].later
    ? truePriors(
        users.map((u) => ({ p: u.later })),
        'p',
      )
    : early;
  const policies = {
    oracle: { choose: (_s, u) => best(u.now, u.reach), learn() {} },
    uniform: { choose: (_s, u) => u.reach[Math.floor(rand() * u.reach.length)], learn() {} },
    tutorial: tutorial(rand),
    learned: learner(rand),
    ceiling: learner(rand, early),
    // the learner's own random numbers, replayed (below): the two columns differ by what they
    // know, not by their luck, and adding it leaves every other column as it was
    timeAware: timeAware(seedrandom(`${SEED}:time-aware`)),
  };
  let learnedStream;
  const hours = seedrandom(`${SEED}:hours`);
  const totals = Object.fromEntries(Object.keys(policies).map((k) => [k, 0]));
  /** --trace: per send, the trust the time-aware learner started it with, and what each policy earned */
  const trace = [];
  const states = Object.fromEntries(
    Object.keys(policies).map((k) => [k, users.map(() => ({ evidence: {}, bands: {}, engagements: {} }))]),
  );
  for (let t = 0; t < notifications; t++) {
    const now = Date.UTC(2026, 0, 1) + t * DAYS_BETWEEN * DAY;
    if (t === switchAt) for (const u of users) if (u.later) u.now = u.later;
    if (t === switchAt && users[0].later) policies.ceiling.shared.priors = late;
    const bands = users.map(() => L.bandOfHour(sendHour(hours)));
    trace[t] = { learned: 0, timeAware: 0, oracle: 0 };
    for (const [name, policy] of Object.entries(policies)) {
      policy.round?.();
      if (name === 'timeAware') trace[t].trust = policy.shared.habits.trust;
      if (name === 'learned') learnedStream = rand.state();
      const draw = name === 'timeAware' ? seedrandom('', { state: learnedStream }) : rand;
      users.forEach((u, i) => {
        if (i % 100 === 99) policy.round?.(); // users arrive as a stream: the prior cache refreshes as it grows
        const pick = policy.choose(states[name][i], u, now, bands[i], draw);
        const c = typeof pick === 'string' ? pick : pick.channel;
        const p = u.now[c];
        totals[name] += p;
        if (name in trace[t]) trace[t][name] += p;
        policy.learn(states[name][i], u, c, draw() < p, now, bands[i]);
      });
    }
  }
  if (TRACE)
    for (const [t, x] of trace.entries())
      console.log(
        `  ${String(t + 1).padStart(3)}  ${(x.trust >= 0.01 ? x.trust.toFixed(3) : x.trust.toExponential(1)).padStart(8)}  ${[x.learned, x.timeAware].map((v) => ((100 * v) / x.oracle).toFixed(1).padStart(6)).join('  ')}`,
      );
  return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, (100 * v) / totals.oracle]));
}

// ---- populations whose channels depend on the hour: p[band][channel] per user
const LOW = [0.5, 9.5];
const TYPES = [
  // office worker: email at the desk, SMS after work
  {
    share: 0.3,
    p: {
      morning: { SMS: [1.5, 8.5], CALL: [1, 9], EMAIL: [6, 4] },
      afternoon: { SMS: [2, 8], CALL: [1, 9], EMAIL: [5.5, 4.5] },
      evening: { SMS: [6, 4], CALL: [1.5, 8.5], EMAIL: [1.5, 8.5] },
    },
  },
  // retiree: the phone in the morning
  {
    share: 0.2,
    p: {
      morning: { SMS: [2, 8], CALL: [6, 4], EMAIL: [1.5, 8.5] },
      afternoon: { SMS: [2.5, 7.5], CALL: [4, 6], EMAIL: [2, 8] },
      evening: { SMS: [3, 7], CALL: [2, 8], EMAIL: [1, 9] },
    },
  },
  // student: nothing much by day, SMS at night
  {
    share: 0.2,
    p: {
      morning: { SMS: [1, 9], CALL: [0.5, 9.5], EMAIL: [2, 8] },
      afternoon: { SMS: [3, 7], CALL: [0.5, 9.5], EMAIL: [1.5, 8.5] },
      evening: { SMS: [6, 4], CALL: [1, 9], EMAIL: [1, 9] },
    },
  },
  // no time pattern
  { share: 0.3, flat: true },
];
function timedUser(rand) {
  const x = rand();
  const upTo = TYPES.map((_, i) => TYPES.slice(0, i + 1).reduce((a, k) => a + k.share, 0));
  const type = TYPES[upTo.findIndex((edge) => x < edge)] ?? TYPES[TYPES.length - 1];
  if (type.flat) {
    const flat = independentUser(rand).p;
    return { p: { night: flat, morning: flat, afternoon: flat, evening: flat }, reach: [...CHANNELS] };
  }
  const p = { night: Object.fromEntries(CHANNELS.map((c) => [c, beta(rand, ...LOW)])) };
  for (const b of WAKING) p[b] = Object.fromEntries(CHANNELS.map((c) => [c, beta(rand, ...type.p[b][c])]));
  return { p, reach: [...CHANNELS] };
}
const TIMED = [
  { name: '5 time-varying (office, retiree, student, flat)', user: timedUser },
  {
    name: '6 as 5; 15 % no email, 10 % SMS opt-out',
    user: (rand) => {
      const u = timedUser(rand);
      if (rand() < 0.15) u.reach = u.reach.filter((c) => c !== 'EMAIL');
      if (rand() < 0.1) u.reach = u.reach.filter((c) => c !== 'SMS');
      return u;
    },
  },
];

/**
 * A time-varying population, each notification at a random waking hour (or, best-time, at the
 * band the learner picks within the day). Cells: % of the time-aware oracle at those random hours.
 */
function runTimed(population, notifications) {
  const rand = seedrandom(String(SEED));
  const users = Array.from({ length: USERS }, () => population.user(rand));
  const hours = seedrandom(`${SEED}:hours`);
  const policies = {
    oracle: { choose: (_s, u, _now, band) => ({ channel: best(u.p[band], u.reach), band }), learn() {} },
    ignoring: learner(seedrandom(`${SEED}:ignoring`)),
    timeAware: timeAware(seedrandom(`${SEED}:time-aware`)),
    bestTime: timeAware(seedrandom(`${SEED}:best-time`), { bestTime: true }),
    // the best channel at the best waking band: what best-time sends could earn at most
    bestOracle: {
      choose: (_s, u) => {
        const [band, channel] = WAKING.flatMap((b) => u.reach.map((c) => [b, c])).reduce((a, x) =>
          u.p[x[0]][x[1]] > u.p[a[0]][a[1]] ? x : a,
        );
        return { channel, band };
      },
      learn() {},
    },
  };
  const totals = Object.fromEntries(Object.keys(policies).map((k) => [k, 0]));
  const states = Object.fromEntries(
    Object.keys(policies).map((k) => [k, users.map(() => ({ evidence: {}, bands: {} }))]),
  );
  for (let t = 0; t < notifications; t++) {
    const now = Date.UTC(2026, 0, 1) + t * DAYS_BETWEEN * DAY;
    const bands = users.map(() => L.bandOfHour(sendHour(hours)));
    for (const [name, policy] of Object.entries(policies)) {
      policy.round?.();
      const draw = seedrandom(`${SEED}:${name}:${t}`);
      users.forEach((u, i) => {
        if (i % 100 === 99) policy.round?.();
        const pick = policy.choose(states[name][i], u, now, bands[i]);
        const [c, band] = typeof pick === 'string' ? [pick, bands[i]] : [pick.channel, pick.band];
        const p = u.p[band][c];
        totals[name] += p;
        policy.learn(states[name][i], u, c, draw() < p, now, band);
      });
    }
  }
  return Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, (100 * v) / totals.oracle]));
}

const started = Date.now();
if (TRACE) {
  const population = POPULATIONS[TRACE - 1];
  if (!population) throw new Error('--trace takes a population of 1 to 4');
  for (const n of [10, 20, 50]) {
    console.log(
      `${population.name}, ${n} notifications, one every ${DAYS_BETWEEN} day(s), ${USERS} users, seed ${SEED}\n` +
        "  send  the kinds' trust  % of the oracle: learned (ignoring time), time-aware",
    );
    const r = run(population, n);
    console.log(`  all: ${r.learned.toFixed(1)}, ${r.timeAware.toFixed(1)}\n`);
  }
  process.exit(0);
}
const rows = [];
for (const population of POPULATIONS) {
  for (const n of [10, 20, 50]) rows.push({ population: population.name, n, ...run(population, n) });
}
const pct = (x) => x.toFixed(1).padStart(6);
console.log(
  `${USERS} users per population, seed ${SEED}, a notification every ${DAYS_BETWEEN} day(s); % of the oracle's engagement\n`,
);
console.log(
  `${'population'.padEnd(42)} ${'n'.padStart(3)} ${['uniform', 'tutorial', 'learned', 'ceiling', 'time-aware'].map((h) => h.padStart(8)).join(' ')}`,
);
for (const r of rows) {
  console.log(
    `${r.population.padEnd(42)} ${String(r.n).padStart(3)} ${[r.uniform, r.tutorial, r.learned, r.ceiling, r.timeAware].map((x) => `${pct(x)}  `).join(' ')}`,
  );
}
const timed = [];
for (const population of TIMED)
  for (const n of [10, 20, 40]) timed.push({ population: population.name, n, ...runTimed(population, n) });
console.log(`\nchannels that depend on the hour; % of the time-aware oracle at random waking hours\n`);
console.log(
  `${'population'.padEnd(42)} ${'n'.padStart(3)} ${['ignoring', 'aware', 'best-time', 'best-orc'].map((h) => h.padStart(9)).join(' ')}`,
);
for (const r of timed)
  console.log(
    `${r.population.padEnd(42)} ${String(r.n).padStart(3)} ${[r.ignoring, r.timeAware, r.bestTime, r.bestOracle].map((x) => `${pct(x)}   `).join(' ')}`,
  );
console.log(
  '(ignoring: the learner without time; aware: with time, at random hours; best-time: it also picks the band; best-orc: the best band and channel known)',
);
// the issue's thresholds, at 20 notifications per user
const at20 = rows.filter((r) => r.n === 20);
const checks = [
  ['learned ≥ 85 % of oracle on population 1', at20[0].learned >= 85],
  ...at20
    .slice(0, 3)
    .map((r, i) => [`learned within 3 points of the ceiling on population ${i + 1}`, r.learned >= r.ceiling - 3]),
  ['learned beats the tutorial by ≥ 10 points on population 4', at20[3].learned - at20[3].tutorial >= 10],
  ...rows.map((r) => [
    `time-aware within 1 point of learned on flat population ${r.population.slice(0, 1)} at ${r.n}`,
    r.timeAware >= r.learned - 1,
  ]),
  ['time-aware ≥ 80 % of the time-aware oracle at 20 (population 5)', timed.find((r) => r.n === 20).timeAware >= 80],
  ['time-aware ≥ 85 % of the time-aware oracle at 40 (population 5)', timed.find((r) => r.n === 40).timeAware >= 85],
  [
    'best-time ≥ 10 points above random-hour sends at 20 (population 5)',
    timed.find((r) => r.n === 20).bestTime - timed.find((r) => r.n === 20).timeAware >= 10,
  ],
];
console.log('');
for (const [what, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${what}`);
console.log(`\n${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
