/** The pure parts of learning when: bands of the day, the band posteriors, best-time sends. */
import {
  bandAt,
  bandEffectsOf,
  bandOfHour,
  bandPosteriors,
  bandSumsDelta,
  type BandEvidence,
  habitsChanged,
  observeInBand,
  RECENT_HALF_LIFE_DAYS,
} from '../src/lib/routing/bands';
import { habitsOf } from '../src/lib/routing/habits';
import { rating } from '../src/lib/routing/learn';
import { type BestTimeInput, bestTime, parseDuration } from '../src/lib/routing/best-time';
import { type Evidence, observe, posteriors, priorsOf } from '../src/lib/routing/learn';
import type { Channel } from '../src/lib/channel-list';
import { parseQuietHours } from '../src/lib/quiet-hours';
import { parseNotifyInput } from '../src/lib/app/notify/input';
import { ApiError } from '../src/lib/http/errors';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00Z'); // 09:00 in Tokyo

describe('bands of the local day', () => {
  it('splits the day in four, in the user’s time zone', () => {
    expect([0, 5, 6, 11, 12, 17, 18, 23].map(bandOfHour)).toEqual([
      'night',
      'night',
      'morning',
      'morning',
      'afternoon',
      'afternoon',
      'evening',
      'evening',
    ]);
    expect(bandAt(T0, 'Asia/Tokyo')).toBe('morning');
    expect(bandAt(T0, 'America/New_York')).toBe('evening');
    expect(bandAt(T0, 'not/a-zone')).toBe('night'); // UTC
  });

  it('a user with no evidence in a band gets their overall rate moved by the population’s band effect', () => {
    let evidence: Evidence = {};
    let bands = {};
    for (let i = 0; i < 10; i++) {
      evidence = observe(evidence, 'SMS', 'sent', T0, 30);
      bands = observeInBand(bands, 'evening', 'SMS', 'sent', T0, 30);
      if (i < 8) {
        evidence = observe(evidence, 'SMS', 'engaged', T0, 30);
        bands = observeInBand(bands, 'evening', 'SMS', 'engaged', T0, 30);
      }
    }
    const overall = posteriors(['SMS'], priorsOf({}), evidence, { now: T0, halfLifeDays: 30 });
    const o = { now: T0, halfLifeDays: 30 };
    // the population: SMS answered half as often in the morning as overall
    const sums = {
      SMS: { users: 100, n: 1000, k: 400, nn: 0, kk: 0 },
      'SMS@morning': { users: 0, n: 500, k: 100, nn: 0, kk: 0 },
    };
    const effects = bandEffectsOf(sums);
    // a clear effect, kept (shrunk by pseudo-trials, and by noise only as far as noise could explain it)
    expect(effects['SMS@morning']).toBeGreaterThan(0.5);
    expect(effects['SMS@morning']).toBeLessThan(0.6);
    // a wobble within sampling noise is no effect at all
    const wobble = bandEffectsOf({
      SMS: { users: 100, n: 1000, k: 400, nn: 0, kk: 0 },
      'SMS@evening': { users: 0, n: 50, k: 21, nn: 0, kk: 0 },
    });
    expect(wobble['SMS@evening']).toBe(1);
    const morning = bandPosteriors(overall, evidence, bands, effects, 'morning', o);
    const evening = bandPosteriors(overall, evidence, bands, effects, 'evening', o);
    expect(evening.SMS?.score.expected).toBeGreaterThan(0.7);
    expect(morning.SMS?.score.expected).toBeLessThan((evening.SMS?.score.expected ?? 0) - 0.2);
    // the band sums move with the evidence, in n and k
    expect(bandSumsDelta({}, bands)).toEqual({ 'SMS@evening': { users: 0, n: 10, k: 8, nn: 0, kk: 0 } });
  });
});

describe('changed habits', () => {
  const DAY = 86_400_000;
  /** a user sent SMS once a day in the evening, answering on the days `answers` says; what the service keeps of it */
  function smsUser(answers: boolean[]) {
    let [evidence, bands, recent]: [Evidence, BandEvidence, BandEvidence] = [{}, {}, {}];
    answers.forEach((answered, d) => {
      const at = T0 + d * DAY;
      for (const kind of answered ? (['sent', 'engaged'] as const) : (['sent'] as const)) {
        evidence = observe(evidence, 'SMS', kind, at, 30);
        bands = observeInBand(bands, 'evening', 'SMS', kind, at, 30);
        recent = observeInBand(recent, 'evening', 'SMS', kind, at, RECENT_HALF_LIFE_DAYS);
      }
    });
    return { evidence, bands, recent, now: T0 + answers.length * DAY };
  }
  const best = (post: Partial<Record<Channel, { a: number; b: number }>>) =>
    (Object.entries(post) as Array<[Channel, { a: number; b: number }]>).reduce((x, y) =>
      rating(y[1]) > rating(x[1]) ? y : x,
    )[0];

  it('an SMS person who stops answering SMS is asked afresh what kind they are: the channels they never tried are tried', () => {
    // ten evenings answered, then five not
    const u = smsUser([...Array(10).fill(true), ...Array(5).fill(false)]);
    const o = { now: u.now, halfLifeDays: 30, habits: habitsOf({}) };
    expect(habitsChanged(u.evidence, u.recent, u.now, 30)).toBe(true);
    const overall = posteriors(['SMS', 'CALL', 'EMAIL'], priorsOf({}), u.evidence, o);
    // the whole history still says "an SMS person": SMS stays first
    expect(best(bandPosteriors(overall, u.evidence, u.bands, {}, 'evening', o))).toBe('SMS');
    // decided from what they did lately, SMS gives way to a channel they never tried
    expect(best(bandPosteriors(overall, u.evidence, u.bands, {}, 'evening', { ...o, recent: u.recent }))).not.toBe(
      'SMS',
    );
  });

  it('a user whose answers keep their old rate has not changed: chance misses are no change', () => {
    // answered two evenings in three, throughout, and lately too
    const steady = smsUser(Array.from({ length: 15 }, (_, d) => d % 3 !== 2));
    expect(habitsChanged(steady.evidence, steady.recent, steady.now, 30)).toBe(false);
    // too little before the recent evidence to judge it by: no change
    const fresh = smsUser([false, false]);
    expect(habitsChanged(fresh.evidence, fresh.recent, fresh.now, 30)).toBe(false);
  });
});

describe('best-time sends', () => {
  // a user who answers SMS in the evening (18–24 in Tokyo) and nothing else
  const base = (): BestTimeInput => {
    let evidence: Evidence = {};
    let bands = {};
    for (const [band, engaged] of [
      ['evening', 5],
      ['morning', 0],
      ['afternoon', 0],
    ] as const)
      for (let i = 0; i < 5; i++) {
        for (const c of ['SMS', 'EMAIL'] as const) {
          evidence = observe(evidence, c, 'sent', T0, 30);
          bands = observeInBand(bands, band, c, 'sent', T0, 30);
        }
        if (i < engaged) {
          evidence = observe(evidence, 'SMS', 'engaged', T0, 30);
          bands = observeInBand(bands, band, 'SMS', 'engaged', T0, 30);
        }
      }
    // (a channel never tried would be explored first, as every routing decision does: left out here)
    const overall = posteriors(['SMS', 'EMAIL', 'CALL'], priorsOf({}), evidence, { now: T0, halfLifeDays: 30 });
    return {
      now: T0,
      withinMs: 24 * HOUR,
      timezone: 'Asia/Tokyo',
      channels: ['SMS', 'EMAIL'],
      canScheduleSms: true,
      overall,
      evidence,
      bands,
      effects: {},
      halfLifeDays: 30,
    };
  };

  it('picks the band and channel that engage, at the first whole hour of that band', () => {
    const best = bestTime(base());
    expect(best).toMatchObject({ channel: 'SMS', band: 'evening' });
    expect(best?.at?.toISOString()).toBe('2026-12-01T09:00:00.000Z'); // 18:00 in Tokyo
    expect(best?.expected).toBeGreaterThan(best?.expectedNow ?? 1);
  });

  it('never inside quiet hours, and calls only now', () => {
    const best = bestTime({ ...base(), quiet: parseQuietHours('17:00-23:00') });
    expect(best?.at?.toISOString()).toBe('2026-12-01T14:00:00.000Z'); // 23:00 in Tokyo: the first evening hour out of quiet
    const callsOnly = bestTime({ ...base(), channels: ['CALL'] });
    expect(callsOnly?.at).toBeUndefined();
    // nothing may go out: a call now inside quiet hours
    expect(bestTime({ ...base(), channels: ['CALL'], quiet: parseQuietHours('08:00-10:00') })).toBeUndefined();
  });

  it('respects the providers’ windows: no scheduled SMS without a Messaging Service, no email beyond 72 hours', () => {
    const noService = bestTime({ ...base(), canScheduleSms: false, channels: ['SMS'] });
    expect(noService?.at).toBeUndefined(); // only now
    const email = bestTime({ ...base(), channels: ['EMAIL'], withinMs: 30 * 24 * HOUR });
    expect((email?.at?.getTime() ?? T0) - T0).toBeLessThanOrEqual(72 * HOUR);
  });

  it('a best time already here sends now', () => {
    const evening = T0 + 9 * HOUR + 30 * 60_000; // 18:30 in Tokyo
    const best = bestTime({ ...base(), now: evening });
    expect(best).toMatchObject({ channel: 'SMS', band: 'evening' });
    expect(best?.at).toBeUndefined();
  });

  it('reads ISO 8601 durations of weeks, days, hours and minutes', () => {
    expect(parseDuration('PT24H')).toBe(24 * HOUR);
    expect(parseDuration('P1DT12H')).toBe(36 * HOUR);
    expect(parseDuration('PT90M')).toBe(90 * 60_000);
    expect(parseDuration('P1W')).toBe(7 * 24 * HOUR);
    for (const bad of ['P', 'PT', '24H', 'P1M2', 'P1Y']) expect(parseDuration(bad)).toBeUndefined();
  });

  it('/notify refuses what best-time cannot do, naming the field', () => {
    const refused = (params: Record<string, unknown>) => {
      try {
        parseNotifyInput({ userId: 'u', phone: '+818012345678', message: 'm', ...params }, {
          defaultLocale: 'ja-JP',
        } as never);
        return 'accepted';
      } catch (err) {
        return err instanceof ApiError ? err.field : String(err);
      }
    };
    expect(refused({ sendAt: 'best', within: 'P40D' })).toBe('within');
    expect(refused({ sendAt: 'best', within: 'soon' })).toBe('within');
    expect(refused({ within: 'PT2H' })).toBe('within');
    expect(refused({ sendAt: 'best', escalation: 'auto' })).toBe('sendAt');
    expect(refused({ sendAt: 'best', within: 'P3D' })).toBe('accepted');
  });
});
