import { CHANNELS } from '../src/lib/channel-list';
import { trusted } from '../src/lib/routing/bands';
import {
  addHabitSums,
  addHabitSumsInto,
  type BandCounts,
  type HabitSums,
  FIT,
  fitSumsDelta,
  habitPosterior,
  habitSumsDelta,
  habitSumsOf,
  habitsOf,
  KINDS,
  kept,
  MIN_SHARE,
  PENDING_KEPT,
  responsibilities,
  roundHabitSums,
  scoreEngagement,
  scoreSend,
  TRUST_PRIOR_LOG_ODDS,
  trustOf,
  userFitOf,
} from '../src/lib/routing/habits';

const mean = (b: { a: number; b: number }) => b.a / (b.a + b.b);
/** a desk worker: email read by day, never in the evening; SMS answered in the evening */
const desk: BandCounts = {
  'EMAIL@morning': { sent: 3, engaged: 3 },
  'EMAIL@afternoon': { sent: 2, engaged: 2 },
  'EMAIL@evening': { sent: 2, engaged: 0 },
  'SMS@evening': { sent: 2, engaged: 2 },
};

describe('habits (routing/habits.ts)', () => {
  test('the kinds come from the one list of channels: three parts of the day each, and one that rarely engages', () => {
    expect(KINDS).toHaveLength(CHANNELS.length * 3 + 1);
    expect(KINDS.map((k) => k.name)).toContain('EMAIL:day');
    expect(KINDS.map((k) => k.name)).toContain('rarely');
  });

  test("before any data, a user's evidence points to the kind it looks like, and a band is judged by it", () => {
    const habits = habitsOf({});
    const r = responsibilities(habits, desk);
    const top = KINDS[r.indexOf(Math.max(...r))].name;
    expect(top).toBe('EMAIL:day');
    // email by day stays above email in the evening, which the user's unread evenings bring down
    expect(mean(habitPosterior(habits, desk, 'EMAIL', 'morning'))).toBeGreaterThan(0.6);
    expect(mean(habitPosterior(habits, desk, 'EMAIL', 'evening'))).toBeLessThan(0.35);
  });

  test('a kind learns what its users do beyond its seed: the desk kind learns SMS in the evening', () => {
    // 50 desk workers added with the responsibilities their evidence gives
    let sums = {};
    const seeded = habitsOf({});
    for (let i = 0; i < 50; i++)
      sums = addHabitSums(
        sums,
        habitSumsDelta({ r: {}, counts: {} }, { r: kept(seeded, responsibilities(seeded, desk)), counts: desk }),
      );
    const learned = habitsOf(sums);
    // a new user who read two morning emails: SMS in the evening is now expected of them, not in the morning
    const newcomer: BandCounts = { 'EMAIL@morning': { sent: 2, engaged: 2 } };
    const smsEvening = mean(habitPosterior(learned, newcomer, 'SMS', 'evening'));
    const smsMorning = mean(habitPosterior(learned, newcomer, 'SMS', 'morning'));
    expect(smsEvening).toBeGreaterThan(0.5);
    expect(smsMorning).toBeLessThan(0.3);
    // before the population was learned, the same newcomer's evening SMS was a guess near the seeds'
    expect(mean(habitPosterior(seeded, newcomer, 'SMS', 'evening'))).toBeLessThan(0.3);
  });

  test("a kind's rate on a channel@band its users were seldom sent on is uncertain: same mean, a wider posterior", () => {
    // every kind's users sent 1,000 SMS in the morning, each at its seed's rate: the rates stay where
    // the seeds put them, but now rest on 1,000 sends rather than on the seed's 2
    const seeded = habitsOf({});
    const tried: HabitSums = Object.fromEntries(
      seeded.kinds.map(({ name, rate }) => [name, { w: 10, t: { 'SMS@morning': [1000, 1000 * rate['SMS@morning']] } }]),
    );
    const untried: HabitSums = Object.fromEntries(seeded.kinds.map(({ name }) => [name, { w: 10, t: {} }]));
    const variance = ({ a, b }: { a: number; b: number }) => (a * b) / ((a + b) ** 2 * (a + b + 1));
    const [known, unknown] = [tried, untried].map((sums) => habitPosterior(habitsOf(sums), {}, 'SMS', 'morning'));
    expect(mean(unknown)).toBeCloseTo(mean(known), 2);
    expect(variance(unknown)).toBeGreaterThan(variance(known) * 1.2);
    // a user's own counts there outweigh the kinds' doubt: with 8 sends of theirs the two are close
    const own: BandCounts = { 'SMS@morning': { sent: 8, engaged: 2 } };
    const [knownOwn, unknownOwn] = [tried, untried].map((sums) =>
      habitPosterior(habitsOf(sums), own, 'SMS', 'morning'),
    );
    expect(variance(unknownOwn) / variance(knownOwn)).toBeLessThan(variance(unknown) / variance(known));
  });

  test('responsibilities kept: at least MIN_SHARE each, summing to 1', () => {
    const habits = habitsOf({});
    for (const counts of [{}, desk, { 'CALL@morning': { sent: 5, engaged: 0 } }]) {
      const r = kept(habits, responsibilities(habits, counts));
      const shares = Object.values(r) as number[];
      expect(Math.abs(shares.reduce((a, x) => a + x, 0) - 1)).toBeLessThan(5e-3);
      for (const x of shares) expect(x).toBeGreaterThanOrEqual(MIN_SHARE - 1e-3);
    }
  });

  test("a user's changes add up to their last state: each change takes back exactly what the one before added", () => {
    const habits = habitsOf({});
    const states: Array<{ r: ReturnType<typeof kept>; counts: BandCounts }> = [{ r: {}, counts: {} }];
    let counts: BandCounts = {};
    for (const [key, engaged] of [
      ['EMAIL@morning', 1],
      ['SMS@evening', 0],
      ['EMAIL@morning', 1],
      ['CALL@afternoon', 0],
    ] as const) {
      const before = states[states.length - 1];
      const c = counts[key] ?? { sent: 0, engaged: 0 };
      counts = { ...counts, [key]: { sent: c.sent + 1, engaged: c.engaged + engaged } };
      states.push({ r: kept(habits, responsibilities(habits, before.counts)), counts });
    }
    let total = {};
    for (let i = 1; i < states.length; i++) total = addHabitSums(total, habitSumsDelta(states[i - 1], states[i]));
    const last = habitSumsDelta({ r: {}, counts: {} }, states[states.length - 1]);
    expect(roundHabitSums(addHabitSums(total, last, -1))).toEqual({});
    // and taking the user out leaves nothing
    expect(
      roundHabitSums(addHabitSums(total, habitSumsDelta(states[states.length - 1], { r: {}, counts: {} }))),
    ).toEqual({});
  });

  test('adding in place (a pooled prior) gives what adding by copy gives, and leaves what it adds unchanged', () => {
    const habits = habitsOf({});
    const users: BandCounts[] = [desk, { 'CALL@morning': { sent: 2, engaged: 1 } }, desk];
    const deltas = users.map((counts) =>
      habitSumsDelta({ r: {}, counts: {} }, { r: kept(habits, responsibilities(habits, counts)), counts }),
    );
    const copy = JSON.stringify(deltas);
    const inPlace = {};
    for (const d of deltas) addHabitSumsInto(inPlace, d);
    const byCopy = deltas.reduce((acc, d) => addHabitSums(acc, d), {});
    expect(roundHabitSums(inPlace)).toEqual(roundHabitSums(byCopy));
    expect(JSON.stringify(deltas)).toBe(copy);
  });

  test('stored sums: unknown kinds, unknown keys and non-numbers count as nothing', () => {
    const stored = habitSumsOf({
      'EMAIL:day': { w: 1.5, t: { 'EMAIL@morning': [3, 2], 'FAX@morning': [1, 1], 'SMS@evening': [1, 'x'] } },
      'FAX:day': { w: 1, t: {} },
      rarely: { w: 'many', t: {} },
    });
    expect(stored).toEqual({ 'EMAIL:day': { w: 1.5, t: { 'EMAIL@morning': [3, 2] } } });
    expect(habitSumsOf(null)).toEqual({});
  });

  describe('how far the kinds are trusted: their forecasts scored against the learner without them', () => {
    const o = { now: Date.UTC(2026, 0, 5), halfLifeDays: 30 };
    test('a send is scored as not engaged, and its engagement turns the score into log(p)', () => {
      const sent = scoreSend(undefined, [], 'a', { habits: 0.8, plain: 0.3 }, o);
      expect(sent.fit.habits).toBeCloseTo(Math.log(0.2), 3);
      expect(sent.fit.plain).toBeCloseTo(Math.log(0.7), 3);
      expect(sent.pending).toEqual([['a', 0.8, 0.3]]);
      const engaged = scoreEngagement(sent.fit, sent.pending, 'a', o);
      expect(engaged.fit?.habits).toBeCloseTo(Math.log(0.8), 3);
      expect(engaged.fit?.plain).toBeCloseTo(Math.log(0.3), 3);
      expect(engaged.pending).toEqual([]);
      // an engagement of a send not pending (too old, or not routed with the kinds) scores nothing
      expect(scoreEngagement(engaged.fit, engaged.pending, 'a', o)).toEqual(engaged);
    });

    test('scores fade with the evidence, and only the last sends wait for an engagement', () => {
      let state = {
        fit: undefined as ReturnType<typeof scoreSend>['fit'] | undefined,
        pending: [] as ReturnType<typeof scoreSend>['pending'],
      };
      for (let i = 0; i < PENDING_KEPT + 3; i++)
        state = scoreSend(state.fit, state.pending, `n${i}`, { habits: 0.5, plain: 0.5 }, o);
      expect(state.pending.map(([k]) => k)).toEqual(Array.from({ length: PENDING_KEPT }, (_, i) => `n${i + 3}`));
      const later = scoreSend(
        state.fit,
        state.pending,
        'x',
        { habits: 0.5, plain: 0.5 },
        { ...o, now: o.now + 30 * 86_400_000 },
      );
      expect(later.fit.habits).toBeCloseTo(((PENDING_KEPT + 3) * Math.log(0.5)) / 2 + Math.log(0.5), 3);
    });

    test('with no scores the kinds are trusted; forecasts clearly worse than the plain learner take the trust away', () => {
      expect(trustOf({})).toBeGreaterThan(0.999);
      expect(habitsOf({}).trust).toBeGreaterThan(0.999);
      const worse = fitSumsDelta(undefined, { habits: -500, plain: -500 + TRUST_PRIOR_LOG_ODDS + 20, at: 0 });
      expect(trustOf(worse)).toBeLessThan(0.01);
      const better = fitSumsDelta(undefined, { habits: -480, plain: -500, at: 0 });
      expect(trustOf(better)).toBeGreaterThan(0.999);
      // stored and read back as the prior's list items keep them
      expect(trustOf(habitSumsOf(roundHabitSums(worse)))).toBeCloseTo(trustOf(worse), 6);
      expect(Object.keys(habitSumsOf(worse))).toEqual([FIT]);
    });

    test('the router mixes the kinds with the plain learner as far as the kinds are not trusted', () => {
      const score = { expected: 0, sent: 0, engaged: 0, failed: 0 };
      const kinds = { SMS: { a: 8, b: 2, score }, EMAIL: { a: 1, b: 9, score } };
      const plain = { SMS: { a: 2, b: 8, score }, EMAIL: { a: 6, b: 4, score } };
      expect(trusted(kinds, plain, 1)).toBe(kinds);
      const none = trusted(kinds, plain, 0);
      expect(mean(none.SMS as { a: number; b: number })).toBeCloseTo(0.2, 6);
      expect(mean(none.EMAIL as { a: number; b: number })).toBeCloseTo(0.6, 6);
      const half = trusted(kinds, plain, 0.5);
      expect(mean(half.SMS as { a: number; b: number })).toBeCloseTo(0.5, 6);
    });

    test('a stored document with unusable scores keeps none of them', () => {
      expect(
        userFitOf({ habits: 1, plain: -2, at: 5 }, [
          ['k', 2, 0.5],
          ['j', 0.4, 0.5],
        ]),
      ).toEqual({
        pending: [['j', 0.4, 0.5]],
      });
      expect(userFitOf({ habits: -1, plain: -2, at: 5 }, 'x')).toEqual({
        fit: { habits: -1, plain: -2, at: 5 },
        pending: [],
      });
    });
  });
});
