import { CHANNELS } from '../src/lib/channel-list';
import {
  addHabitSums,
  addHabitSumsInto,
  type BandCounts,
  habitPosterior,
  habitSumsDelta,
  habitSumsOf,
  habitsOf,
  KINDS,
  kept,
  MIN_SHARE,
  responsibilities,
  roundHabitSums,
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
});
