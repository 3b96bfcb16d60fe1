/**
 * The pure parts of proving the lift and capping: the intervals against Newcombe's (1998) worked
 * examples, the tally's arithmetic (any deltas add up in any order, a delta and its negative
 * cancel), the holdout's stable buckets, the FREQUENCY_CAP syntax.
 */
import fc from 'fast-check';
import { ConfigError, parseFrequencyCap } from '../src/lib/config';
import { lift, wilson } from '../src/lib/insights/intervals';
import { reportOf } from '../src/lib/insights/report';
import { addTally, type Counted, type Tally, tallyFrom, tallyOf } from '../src/lib/insights/tally';
import { assign, bucketOf, inHoldout } from '../src/lib/routing/holdout';
import { tallyThatFits } from '../src/lib/store/prior';

describe('intervals', () => {
  test("Wilson's score interval: Newcombe's examples", () => {
    expect(wilson(81, 263)?.interval.map((x) => x.toFixed(4))).toEqual(['0.2553', '0.3662']);
    expect(wilson(15, 148)?.interval.map((x) => x.toFixed(4))).toEqual(['0.0624', '0.1605']);
    expect(wilson(0, 20)?.interval.map((x) => x.toFixed(4))).toEqual(['0.0000', '0.1611']);
    expect(wilson(0, 0)).toBeNull();
  });

  test("the difference: Newcombe's hybrid score interval (method 10), 56/70 − 48/80", () => {
    const l = lift(56, 70, 48, 80);
    expect(l?.difference).toBeCloseTo(0.2, 10);
    expect(l?.differenceInterval.map((x) => x.toFixed(4))).toEqual(['0.0524', '0.3339']);
    // Katz's log interval for the ratio 1.333
    expect(l?.ratio).toBeCloseTo(4 / 3, 10);
    expect(l?.ratioInterval?.map((x) => x.toFixed(3))).toEqual(['1.077', '1.651']);
  });

  test('every interval holds its estimate and stays within its range', () => {
    fc.assert(
      fc.property(fc.nat(500), fc.nat(500), fc.nat(500), fc.nat(500), (a, b, c, d) => {
        const [n1, n2] = [a + b + 1, c + d + 1];
        const [k1, k2] = [a, c];
        const w = wilson(k1, n1);
        expect(w && w.interval[0] <= w.rate + 1e-12 && w.rate <= w.interval[1] + 1e-12).toBe(true);
        expect(w && w.interval[0] >= 0 && w.interval[1] <= 1).toBe(true);
        const l = lift(k1, n1, k2, n2);
        expect(
          l && l.differenceInterval[0] <= l.difference + 1e-12 && l.difference <= l.differenceInterval[1] + 1e-12,
        ).toBe(true);
        if (l?.ratioInterval && k2 > 0 && k1 > 0) {
          expect(l.ratioInterval[0] <= (l.ratio ?? 0) + 1e-9 && (l.ratio ?? 0) <= l.ratioInterval[1] + 1e-9).toBe(true);
        }
      }),
    );
  });
});

describe('the tally', () => {
  const counted = fc.record({
    notificationId: fc.constantFrom('n1', 'n2', 'n3', 'n4'),
    channel: fc.constantFrom('SMS' as const, 'CALL' as const, 'EMAIL' as const),
    kind: fc.constantFrom('notified', 'suppressed', 'sent', 'delivered', 'failed', 'engaged'),
    group: fc.constantFrom('learned' as const, 'holdout' as const, 'override' as const),
    day: fc.constantFrom('2026-11-29', '2026-11-30'),
    cost: fc.constantFrom(undefined, 0, 0.0797, 0.15, 0.0004),
  });
  const delta = fc.array(counted, { maxLength: 8 }).map((os: Counted[]) => tallyOf(os, () => false));

  test('deltas add up in any order, and a delta minus itself is nothing', () => {
    fc.assert(
      fc.property(fc.array(delta, { maxLength: 6 }), (deltas) => {
        const forward = deltas.reduce((t, d) => addTally(t, d), {} as Tally);
        const backward = [...deltas].reverse().reduce((t, d) => addTally(t, d), {} as Tally);
        expect(forward).toEqual(backward);
        for (const d of deltas) expect(addTally(d, d, -1)).toEqual({});
        // what is stored reads back the same
        expect(tallyFrom(JSON.parse(JSON.stringify(forward)))).toEqual(forward);
      }),
    );
  });

  test('a notification is engaged once however many of its channels engaged; each channel counts its own', () => {
    const day = '2026-11-30';
    const t = tallyOf(
      [
        { notificationId: 'n1', channel: 'SMS', kind: 'notified', group: 'learned', day },
        { notificationId: 'n1', channel: 'SMS', kind: 'engaged', group: 'learned', day },
        { notificationId: 'n1', channel: 'EMAIL', kind: 'engaged', group: 'learned', day },
        { notificationId: 'n2', channel: 'EMAIL', kind: 'engaged', group: 'learned', day },
      ],
      (id) => id === 'n2', // n2 was counted engaged before (on another channel)
    );
    expect(t[day].g?.learned).toEqual([1, 1, 1, 0, 0, 0, 0]); // the last place: WhatsApp's share of the mix
    expect(t[day].c?.SMS).toEqual([0, 0, 0, 1, 0]);
    expect(t[day].c?.EMAIL).toEqual([0, 0, 0, 2, 0]);
    // observations kept before insights existed (no group or day) count nothing
    expect(tallyOf([{ notificationId: 'n9', channel: 'SMS', kind: 'sent' }], () => false)).toEqual({});
  });

  test("sends' estimated costs add up exactly, per channel and per group, in millionths", () => {
    const day = '2026-11-30';
    const sent = (notificationId: string, channel: 'SMS' | 'EMAIL', group: 'learned' | 'holdout', cost?: number) =>
      ({ notificationId, channel, kind: 'sent', group, day, cost }) as Counted;
    const t = tallyOf(
      [
        sent('n1', 'SMS', 'learned', 0.1594),
        sent('n2', 'EMAIL', 'learned', 0.0004),
        sent('n3', 'SMS', 'holdout', 0.0797),
        sent('n4', 'SMS', 'holdout'),
      ],
      () => false,
    );
    expect(t[day].c?.SMS).toEqual([3, 0, 0, 0, 239_100]);
    expect(t[day].s).toEqual({ learned: [159_800], holdout: [79_700] });
    // a count stored before spend was kept (four wide) still reads, and adds to a new one
    const old = tallyFrom({ [day]: { c: { SMS: [1, 1, 0, 0] } } });
    expect(addTally(old, t)[day].c?.SMS).toEqual([4, 1, 0, 0, 239_100]);
    const g = (k: number, n: number) => [n, k, n, 0, 0, 0];
    const both: Tally = { [day]: { g: { learned: g(40, 100), holdout: g(20, 100) }, s: t[day].s } };
    const r = reportOf(both, day, day, {
      currency: 'USD',
      value: 1,
    });
    expect(r.groups.learned?.spend).toMatchObject({ total: 0.1598, perNotification: 0.001598 });
    expect(r.groups.learned?.spend.perEngagement?.cost).toBeCloseTo(0.1598 / 40, 12);
    const [low, high] = r.groups.learned?.spend.perEngagement?.interval ?? [];
    expect(low).toBeLessThan(0.1598 / 40);
    expect(high).toBeGreaterThan(0.1598 / 40);
    expect(r.groups.learned?.spend.netValue?.total).toBeCloseTo(40 - 0.1598, 12);
    // the net value lift: value × the engagement lift, less the spend per notification between them
    expect(r.netValueLift?.difference).toBeCloseTo(0.2 - (0.001598 - 0.000797), 12);
    expect(r.netValueLift?.interval[0]).toBeCloseTo((r.lift?.differenceInterval[0] ?? 0) - (0.001598 - 0.000797), 12);
    // without a value: no net value
    expect(reportOf(both, day, day).groups.learned?.spend).toMatchObject({ total: 0.1598, netValue: null });
  });

  test('a malformed stored tally is read without the malformed parts', () => {
    expect(
      tallyFrom({
        '2026-11-30': { g: { learned: [1, 0, 1, 0, 0, 0], bogus: [1, 1, 1, 1, 1, 1], holdout: [1, 'x', 0, 0, 0, 0] } },
        yesterday: { g: { learned: [1, 0, 1, 0, 0, 0] } },
      }),
    ).toEqual({ '2026-11-30': { g: { learned: [1, 0, 1, 0, 0, 0] } } });
  });

  test('the report keeps the days of its window and sums them', () => {
    const t: Tally = {
      '2026-11-01': { g: { learned: [10, 5, 10, 0, 0, 0] } },
      '2026-11-02': { g: { learned: [10, 7, 0, 10, 0, 3], holdout: [10, 2, 10, 0, 0, 0] } },
    };
    const r = reportOf(t, '2026-11-02', '2026-11-30');
    expect(r.groups.learned).toMatchObject({
      notifications: 10,
      engaged: 7,
      suppressed: 3,
      mix: { CALL: { count: 10, share: 1 } },
    });
    expect(r.lift?.difference).toBeCloseTo(0.5, 10);
    expect(r.daily).toEqual([
      {
        day: '2026-11-02',
        learned: { notifications: 10, engaged: 7, rate: 0.7 },
        holdout: { notifications: 10, engaged: 2, rate: 0.2 },
      },
    ]);
  });
});

describe('the holdout', () => {
  const config = (holdoutPercent: number) => ({ holdoutPercent, routingPolicy: 'learned' as const });

  test('a user keeps the bucket, and raising the percentage only moves users from learned to holdout', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.nat(50), fc.nat(50), (userId, a, b) => {
        expect(bucketOf(userId)).toBe(bucketOf(userId));
        const [low, high] = a <= b ? [a, b] : [b, a];
        if (inHoldout(userId, config(low))) expect(inHoldout(userId, config(high))).toBe(true);
      }),
    );
  });

  test('about the configured share of users is held out', () => {
    const users = Array.from({ length: 4000 }, (_, i) => `user-${i}`);
    const share = users.filter((u) => inHoldout(u, config(20))).length / users.length;
    expect(share).toBeGreaterThan(0.18);
    expect(share).toBeLessThan(0.22);
    expect(users.filter((u) => inHoldout(u, config(0)))).toEqual([]);
  });

  test('explicit channels and escalations are counted apart; with ROUTING_POLICY=trait there is no holdout', () => {
    const held = Array.from({ length: 200 }, (_, i) => `u${i}`).find((u) => inHoldout(u, config(50))) as string;
    expect(assign({ userId: held }, config(50))).toEqual({ group: 'holdout', holdout: true });
    expect(assign({ userId: held, channel: 'SMS' }, config(50))).toEqual({ group: 'override', holdout: true });
    expect(assign({ userId: held, escalation: 'auto' }, config(50))).toEqual({ group: 'escalation', holdout: true });
    expect(assign({ userId: held }, { holdoutPercent: 50, routingPolicy: 'trait' })).toEqual({
      group: 'trait',
      holdout: false,
    });
  });
});

test('FREQUENCY_CAP: N per a window in minutes, hours or days; off; anything else named', () => {
  expect(parseFrequencyCap('3/24h')).toEqual({ limit: 3, windowMs: 24 * 3_600_000, text: '3/24h' });
  expect(parseFrequencyCap('1/90m')?.windowMs).toBe(90 * 60_000);
  expect(parseFrequencyCap('5/7d')?.windowMs).toBe(7 * 86_400_000);
  expect(parseFrequencyCap(undefined)).toBeUndefined();
  expect(parseFrequencyCap('off')).toBeUndefined();
  for (const bad of ['3', '0/24h', '3/0h', '21/1d', '3/36d', '3 per day', '3/24'])
    expect(() => parseFrequencyCap(bad)).toThrow(ConfigError);
});

test('a prior summary keeps the tally within a Sync document, dropping its oldest days only when it must', () => {
  const busyDay = {
    g: Object.fromEntries(
      ['learned', 'holdout', 'trait', 'override', 'escalation'].map((g) => [
        g,
        [912345, 512345, 312345, 312345, 288345, 91234],
      ]),
    ),
    c: Object.fromEntries(['SMS', 'CALL', 'EMAIL'].map((c) => [c, [912345, 812345, 12345, 512345]])),
  };
  const days = Array.from({ length: 60 }, (_, i) => new Date(Date.UTC(2026, 9, 2 + i)).toISOString().slice(0, 10));
  const tally: Tally = Object.fromEntries(days.map((d) => [d, busyDay]));
  const kept = tallyThatFits(tally, {});
  const size = Buffer.byteLength(JSON.stringify({ v: 1, sums: {}, t: kept, through: 0 }));
  expect(size).toBeLessThanOrEqual(15 * 1024);
  const keptDays = Object.keys(kept).sort();
  expect(keptDays.length).toBeGreaterThan(30);
  expect(keptDays.at(-1)).toBe(days.at(-1)); // the newest days stay
  // an ordinary tally is kept whole
  const quiet: Tally = Object.fromEntries(days.map((d) => [d, { g: { learned: [40, 20, 20, 10, 10, 0] } }]));
  expect(tallyThatFits(quiet, {})).toBe(quiet);
});
