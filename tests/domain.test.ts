/** Unit tests of the pure domain parts: planning, quiet hours across DST, reasons, step transitions, translation. */
import { segmentsOf, smsSizeWarning } from '../src/lib/channels/sms';
import type { ProviderEvent } from '../src/lib/channels/provider';
import { loadConfig } from '../src/lib/config';
import { DomainError } from '../src/lib/errors';
import { planJourney } from '../src/lib/journey/plan';
import { advance, type Step, type StepStatus } from '../src/lib/journey/steps';
import { parseQuietHours, quietHoursEnd } from '../src/lib/quiet-hours';
import { keptCancelOutcome } from '../src/lib/app/recovery';
import { addSums, chooseChannel, decayed, fitPrior, observe, posteriors, sumsDelta } from '../src/lib/routing/learn';
import type { SyncClient } from '../src/lib/clients/sync';
import { EvidenceStore, evidenceOf } from '../src/lib/store/evidence';
import { PooledPrior } from '../src/lib/store/prior';
import { reachability } from '../src/lib/routing/decide';
import { decideRoute, finalReason, type Route } from '../src/lib/routing/route';
import { MEANING, translate } from '../src/lib/app/webhooks/pipeline';
import { SANDBOX_DEFAULTS } from '../sandbox/settings';

const config = loadConfig({ ...SANDBOX_DEFAULTS });
const NOW = new Date('2026-12-01T03:00:00Z'); // 12:00 in Tokyo
const PHONE = '+819012345678';
const EMAIL = 'taro@example.jp';

function route(over: Partial<Route> = {}): Route {
  return {
    channel: 'SMS',
    reason: 'random',
    reach: reachability({ phone: PHONE, email: EMAIL }),
    phone: PHONE,
    email: EMAIL,
    timezone: 'Asia/Tokyo',
    policy: 'trait',
    ...over,
  };
}
const minutes = (n: number) => n * 60_000;

describe('journey planning', () => {
  test('a single notification is one step, now', () => {
    const plan = planJourney({ escalateAfter: 60 }, route(), config, NOW);
    expect(plan.steps).toEqual([{ channel: 'SMS', at: undefined }]);
    expect(plan.quietHours).toBeUndefined();
  });

  test('auto escalation: the routed channel first, then the other reachable ones, escalateAfter apart', () => {
    const plan = planJourney({ escalation: 'auto', escalateAfter: 30 }, route({ channel: 'EMAIL' }), config, NOW);
    expect(plan.steps.map((s) => [s.channel, s.at && s.at.getTime() - NOW.getTime()])).toEqual([
      ['EMAIL', undefined],
      ['SMS', minutes(30)],
      ['CALL', minutes(60)],
    ]);
  });

  test('an explicit list skips what is unreachable, saying why', () => {
    const reach = reachability({ phone: PHONE, optedOut: { SMS: true } });
    const plan = planJourney({ escalation: ['SMS', 'CALL'], escalateAfter: 60 }, route({ reach }), config, NOW);
    expect(plan.steps.map((s) => s.channel)).toEqual(['CALL']);
    expect(plan.skipped).toEqual({ SMS: 'opted out of SMS' });
    const none = () => planJourney({ escalation: ['EMAIL'], escalateAfter: 60 }, route({ reach }), config, NOW);
    expect(none).toThrow(expect.objectContaining({ code: 'unreachable', field: 'escalation' }));
  });

  test('a send inside quiet hours is deferred to their end; a call cannot be, so it goes now with a note', () => {
    const quiet = parseQuietHours('11:00-13:00'); // NOW is 12:00 in Tokyo
    const sms = planJourney({ escalateAfter: 60 }, route({ quiet }), config, NOW);
    expect(sms.steps[0].at?.toISOString()).toBe('2026-12-01T04:00:00.000Z');
    expect(sms.quietHours).toMatchObject({ window: '11:00-13:00', deferredUntil: '2026-12-01T04:00:00.000Z' });
    const call = planJourney({ escalateAfter: 60 }, route({ channel: 'CALL', quiet }), config, NOW);
    expect(call.steps[0].at).toBeUndefined();
    expect(call.quietHours?.note).toMatch(/sent during quiet hours: calls cannot be scheduled/);
  });

  test("what a provider's scheduler cannot take is refused with the field to change", () => {
    const soon = new Date(NOW.getTime() + minutes(10));
    expect(() => planJourney({ sendAt: soon, escalateAfter: 60 }, route(), config, NOW)).toThrow(
      expect.objectContaining({ code: 'cannot_schedule', field: 'sendAt' }),
    );
    const far = new Date(NOW.getTime() + minutes(73 * 60));
    expect(() => planJourney({ sendAt: far, escalateAfter: 60 }, route({ channel: 'EMAIL' }), config, NOW)).toThrow(
      DomainError,
    );
  });
});

describe('quiet hours end across a daylight-saving change (America/New_York)', () => {
  const qh = parseQuietHours('21:00-08:00');
  if (!qh) throw new Error('unparsable');
  test.each([
    // 23:00 EST on 7 March 2026; clocks go forward at 02:00 on 8 March: 08:00 EDT is 12:00Z, not 13:00Z
    ['spring forward', '2026-03-08T04:00:00Z', '2026-03-08T12:00:00.000Z'],
    // 23:00 EDT on 31 October 2026; clocks go back at 02:00 on 1 November: 08:00 EST is 13:00Z, not 12:00Z
    ['fall back', '2026-11-01T03:00:00Z', '2026-11-01T13:00:00.000Z'],
    // a plain night for comparison
    ['no change', '2026-06-10T03:00:00Z', '2026-06-10T12:00:00.000Z'],
  ])('%s', (_label, at, end) => {
    expect(quietHoursEnd(new Date(at), qh, 'America/New_York').toISOString()).toBe(end);
  });
});

describe('the final reason', () => {
  const base = { explicitList: false, refused: false, quietSkipsCall: false };
  test.each([
    ['a refusal makes any choice a fallback', { reason: 'preference' as const }, { refused: true }, 'fallback'],
    ['an explicit escalation list is an override', { reason: 'random' as const }, { explicitList: true }, 'override'],
    [
      'a CALL preference skipped for quiet hours',
      { reason: 'fallback' as const, preferred: 'CALL' as const },
      { quietSkipsCall: true },
      'quiet_hours',
    ],
    [
      'an SMS preference unreachable for other reasons',
      { reason: 'fallback' as const, preferred: 'SMS' as const },
      { quietSkipsCall: true },
      'fallback',
    ],
    ['otherwise the decision stands', { reason: 'preference' as const }, {}, 'preference'],
  ])('%s', (_label, r, facts, expected) => {
    expect(finalReason(r, { ...base, ...facts })).toBe(expected);
  });

  test('decideRoute: quiet hours take the call away; a refusal during the request does too', () => {
    const profile = { status: 'found' as const, traits: { preferred_channel: 'CALL', timezone: 'Asia/Tokyo' } };
    const input = { userId: 'u', locale: 'ja-JP', phone: PHONE, urgent: false, quietHours: '11:00-13:00' };
    const quiet = decideRoute(input, profile, config, { now: NOW });
    expect([quiet.channel, quiet.reason]).toEqual(['SMS', 'quiet_hours']);
    const urgent = decideRoute({ ...input, urgent: true }, profile, config, { now: NOW });
    expect([urgent.channel, urgent.reason]).toEqual(['CALL', 'preference']);
    const refused = { channel: 'CALL' as const, why: 'invalid' } as never;
    const after = decideRoute({ ...input, urgent: true }, profile, config, { now: NOW, refusals: [refused] });
    expect([after.channel, after.reason]).toEqual(['SMS', 'fallback']);
  });
});

test('decideRoute for the holdout: its baseline, never the learner; random ignores the trait', () => {
  const profile = { status: 'found' as const, traits: { preferred_channel: 'EMAIL' } };
  const input = { userId: 'u', locale: 'ja-JP', phone: PHONE, email: 'u@example.jp', urgent: true };
  // a learner that would pick CALL (all its evidence says so)
  const knowledge = {
    priors: {},
    evidence: { CALL: { sent: 50, engaged: 50, failed: 0, at: NOW.getTime() } },
  };
  const learned = loadConfig({ ...SANDBOX_DEFAULTS, ROUTING_TIME_BANDS: 'off' });
  expect(decideRoute(input, profile, learned, { now: NOW, knowledge })).toMatchObject({
    channel: 'CALL',
    policy: 'learned',
  });
  expect(decideRoute(input, profile, learned, { now: NOW, knowledge, holdout: true })).toMatchObject({
    channel: 'EMAIL',
    reason: 'preference',
    policy: 'trait',
  });
  const random = loadConfig({ ...SANDBOX_DEFAULTS, HOLDOUT_POLICY: 'random' });
  const picks = new Set(
    Array.from({ length: 60 }, () => {
      const r = decideRoute(input, profile, random, { now: NOW, knowledge, holdout: true });
      expect([r.policy, r.reason]).toEqual(['random', 'random']);
      return r.channel;
    }),
  );
  expect([...picks].sort()).toEqual(['CALL', 'EMAIL', 'SMS']);
});

describe('step transitions', () => {
  const ORDER: StepStatus[] = ['PENDING', 'SCHEDULED', 'SENT', 'DELIVERED', 'FAILED', 'COMPLETED', 'CANCELED'];
  const rank = (s: StepStatus) => Math.min(ORDER.indexOf(s), 5);
  const cases = ORDER.flatMap((from) => ORDER.map((to) => [from, to] as const));
  test.each(cases)('%s → %s', (from, to) => {
    const step: Step = { channel: 'SMS', status: from, updatedAt: 'before' };
    const final = from === 'COMPLETED' || from === 'CANCELED';
    const moves = !final && rank(to) > rank(from);
    expect(advance(step, to, 'now', 'why')).toBe(moves);
    expect(step.status).toBe(moves ? to : from);
    expect(step.updatedAt).toBe(moves ? 'now' : 'before');
  });
});

describe('provider events → Segment events and step updates', () => {
  const event = (kind: ProviderEvent['kind'], over: Partial<ProviderEvent> = {}): ProviderEvent => ({
    kind,
    channel: 'EMAIL',
    notificationId: 'n1',
    who: { userId: 'u1' },
    providerId: 'p1',
    eventId: `e-${kind}`,
    ...over,
  });

  test.each(Object.keys(MEANING) as Array<ProviderEvent['kind']>)('%s', (kind) => {
    const meaning = MEANING[kind];
    const t = translate(event(kind, { error: 'x' }));
    const names = t.events.map((e) => e.event);
    expect(names).toEqual([meaning.event, meaning.engagement && 'Notification Engaged'].filter(Boolean));
    expect(t.update?.status).toBe(meaning.step);
  });

  test('an unattributed reply is tracked anonymously, with no engagement and no step update', () => {
    const who = { anonymousId: 'phone-x', context: {} };
    const t = translate(event('replied', { channel: 'SMS', notificationId: undefined, who }));
    expect(t.events.map((e) => [e.event, e.anonymousId])).toEqual([['Notification Replied', 'phone-x']]);
    expect(t.update).toBeUndefined();
  });

  test('an opt-out sets its trait with an identify of its own id', () => {
    const t = translate(event('opted_out', { identifyId: 'i1', traits: { email_opted_out: true } }));
    expect(t.events.map((e) => [e.type, e.messageId])).toEqual([
      ['track', 'e-opted_out'],
      ['identify', 'i1'],
    ]);
  });
});

describe('SMS_MAX_SEGMENTS', () => {
  const body = 'あ'.repeat(269); // five UCS-2 segments
  test('a warning by default, a refusal naming the message when strict', () => {
    const four = segmentsOf('あ'.repeat(268));
    expect(smsSizeWarning(four, { smsMaxSegments: 4, smsMaxSegmentsStrict: true })).toBeUndefined();
    expect(smsSizeWarning(segmentsOf(body), { smsMaxSegments: 4, smsMaxSegmentsStrict: false })).toMatch(
      /5 segments \(UCS-2\)/,
    );
    expect(() => smsSizeWarning(segmentsOf(body), { smsMaxSegments: 4, smsMaxSegmentsStrict: true })).toThrow(
      expect.objectContaining({ code: 'too_many_segments', field: 'message' }),
    );
  });
});

describe('escalateAfter=15 (the documented minimum)', () => {
  test('an SMS step 15 minutes after a step sent now is scheduled 30 s later, within what Twilio accepts', () => {
    const plan = planJourney(
      { escalation: ['EMAIL', 'SMS'], escalateAfter: 15 },
      route({ channel: 'EMAIL' }),
      config,
      NOW,
    );
    const sms = plan.steps[1].at?.getTime() ?? 0;
    expect(sms - NOW.getTime()).toBe(minutes(15) + 30_000);
    const after = planJourney({ escalation: ['SMS', 'EMAIL'], escalateAfter: 15 }, route(), config, NOW);
    expect((after.steps[1].at?.getTime() ?? 0) - NOW.getTime()).toBe(minutes(15));
  });
});

describe('a kept cancel retried by recovery', () => {
  const sendAt = '2026-11-24T10:00:00.000Z';
  const before = Date.parse(sendAt) - 60_000;
  const after = Date.parse(sendAt) + 1;
  test.each([
    ['canceled', before, 'canceled'],
    [undefined, before, 'canceled'], // nothing scheduled any more
    ['too_late', before, 'too_late'], // the provider already sent it
    ['failed', before, 'keep'], // still failing, the send time not reached: tried again later
    ['failed', after, 'too_late'], // still failing at the send time: reported as Notification Cancel Failed
    ['canceled', after, 'canceled'],
  ] as const)('%s at %s → %s', (result, now, outcome) => {
    expect(keptCancelOutcome(result, sendAt, now)).toBe(outcome);
  });
});

describe('the learning router (routing/learn.ts)', () => {
  const DAY = 86_400_000;
  const t0 = Date.UTC(2026, 10, 1);

  test('evidence fades by half over the half-life', () => {
    const e = observe({}, 'SMS', 'sent', t0, 30);
    expect(decayed(e.SMS, t0 + 30 * DAY, 30).sent).toBeCloseTo(0.5, 6);
  });

  test("3 replies out of 12 SMS beat 2 answers out of 2 calls' thin evidence only as far as the prior allows", () => {
    const priors = { SMS: { a: 1, b: 3 }, CALL: { a: 1, b: 3 }, EMAIL: { a: 1, b: 3 } };
    let ev = {};
    for (let i = 0; i < 12; i++) ev = observe(ev, 'SMS', 'sent', t0, 30);
    for (let i = 0; i < 3; i++) ev = observe(ev, 'SMS', 'engaged', t0, 30);
    for (let i = 0; i < 2; i++) ev = observe(observe(ev, 'CALL', 'sent', t0, 30), 'CALL', 'engaged', t0, 30);
    const post = posteriors(['SMS', 'CALL'], priors, ev, { now: t0, halfLifeDays: 30 });
    expect(post.SMS?.score).toMatchObject({ sent: 12, engaged: 3, expected: 0.25 });
    expect(post.CALL?.score).toMatchObject({ sent: 2, engaged: 2, expected: 0.5 });
  });

  test('the population prior is fitted from additive sums (beta-binomial moments), weak while data is thin', () => {
    expect(fitPrior(undefined)).toEqual({ a: 1, b: 1 });
    // 1,000 users with 10 trials each, half engaging 80 %, half 20 %: mean 0.5, a wide spread
    let sums = {};
    for (let i = 0; i < 1000; i++) {
      let ev = {};
      for (let k = 0; k < 10; k++) ev = observe(ev, 'SMS', 'sent', t0, 30);
      for (let k = 0; k < (i % 2 ? 8 : 2); k++) ev = observe(ev, 'SMS', 'engaged', t0, 30);
      sums = addSums(sums, sumsDelta({}, ev));
    }
    const prior = fitPrior((sums as Record<string, never>).SMS);
    expect(prior.a / (prior.a + prior.b)).toBeCloseTo(0.5, 2);
    expect(prior.a + prior.b).toBeLessThan(5); // users differ a lot: a user's own evidence soon dominates
  });

  test('a preferred_channel trait starts a user with no evidence of ours on that channel', () => {
    const priors = { SMS: { a: 1, b: 3 }, CALL: { a: 1, b: 3 }, EMAIL: { a: 1, b: 3 } };
    const post = posteriors(['SMS', 'CALL', 'EMAIL'], priors, {}, { now: t0, halfLifeDays: 30, trait: 'EMAIL' });
    expect(chooseChannel(post, () => 0.5)).toBe('EMAIL');
  });

  test('a corrupt or foreign evidence document is treated as empty', () => {
    for (const data of [
      null,
      'x',
      { v: 2 },
      { v: 1, channels: { FAX: {} }, seen: [] },
      { v: 1, channels: { SMS: { sent: -1 } }, seen: [] },
    ]) {
      expect(evidenceOf(data, 'u').channels).toEqual({});
    }
    const good = { v: 1, channels: { SMS: { sent: 1, engaged: 0, failed: 0, at: t0 } }, seen: ['n|SMS|sent'] };
    // a document written before time bands: read as it was, with no bands
    expect(evidenceOf(good, 'u').channels.SMS?.sent).toBe(1);
    expect(evidenceOf(good, 'u').bands).toEqual({});
    // bands: each checked alone; an unusable one is dropped, the rest kept
    const banded = { ...good, bands: { evening: good.channels, noon: good.channels, morning: { SMS: { sent: 'x' } } } };
    expect(evidenceOf(banded, 'u').bands).toEqual({ evening: good.channels });
  });
});

describe("the evidence's memory of what it counted (store/evidence.ts)", () => {
  /** Sync's documents in memory: what the evidence store reads and writes */
  const memorySync = (docs: Map<string, { data: unknown; revision: string }>) =>
    ({
      fetchDocument: async (name: string) => {
        const d = docs.get(name);
        if (!d) throw Object.assign(new Error('not found'), { status: 404, code: 20404 });
        return d;
      },
      createDocument: async (name: string, data: unknown) => {
        docs.set(name, { data: structuredClone(data), revision: '0' });
        return docs.get(name);
      },
      updateDocument: async (name: string, data: unknown, opts: { ifMatch?: string }) => {
        const d = docs.get(name);
        if (!d || (opts.ifMatch !== undefined && opts.ifMatch !== d.revision))
          throw Object.assign(new Error('mismatch'), { status: 412, code: 54103 });
        docs.set(name, { data: structuredClone(data), revision: String(Number(d.revision) + 1) });
        return docs.get(name);
      },
    }) as unknown as SyncClient;
  const t0 = Date.parse('2026-11-30T00:00:00Z');
  const day = '2026-11-30';

  test('keys are short hashes; keys in clear from older documents still count each observation once', async () => {
    const docs = new Map<string, { data: unknown; revision: string }>();
    const store = new EvidenceStore(memorySync(docs), config);
    const uuid = '2f1c9a3e-7b44-4d1a-9c0e-5a8b7e6d4c21';
    // a document as written before: keys in clear, counts with every digit fading leaves
    const old = {
      v: 1,
      channels: { EMAIL: { sent: 1.8181818181818181, engaged: 1.2345678901234567, failed: 0, at: t0 } },
      seen: [`${uuid}|EMAIL|sent`, `${uuid}|EMAIL|engaged`],
    };
    await store.record('u', [{ notificationId: 'seed', channel: 'SMS', kind: 'notified' }], { now: t0 });
    const [name] = [...docs.keys()];
    docs.set(name, { data: old, revision: '5' });

    // the same engagement again (a redelivery): nothing counted, nothing written
    const again = new PooledPrior();
    await store.record('u', [{ notificationId: uuid, channel: 'EMAIL', kind: 'engaged' }], { now: t0, pooled: again });
    expect(docs.get(name)?.revision).toBe('5');

    // a click of the same notification on another channel is evidence of that channel, but /insights
    // counts one engagement per notification: the engaged key in clear says it had one
    const pooled = new PooledPrior();
    const counted = { group: 'learned' as const, day };
    await store.record(
      'u',
      [
        { notificationId: uuid, channel: 'SMS', kind: 'engaged', ...counted },
        { notificationId: 'n-2', channel: 'EMAIL', kind: 'engaged', ...counted },
        { notificationId: 'n-2', channel: 'EMAIL', kind: 'engaged', ...counted }, // an open and a click
      ],
      { now: t0, pooled },
    );
    type Stored = { seen: string[]; channels: Record<string, { engaged: number }> };
    const stored = () => docs.get(name)?.data as Stored;
    const written = stored();
    expect(written.seen.slice(0, 2)).toEqual(old.seen); // the old keys kept until they age out
    expect(written.seen.slice(2)).toHaveLength(2);
    for (const k of written.seen.slice(2)) expect(k).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(written.channels.EMAIL.engaged).toBe(2.2346); // to 4 decimals
    // and the short keys count once too
    await store.record('u', [{ notificationId: 'n-2', channel: 'EMAIL', kind: 'engaged' }], { now: t0 });
    expect(stored().channels.EMAIL.engaged).toBe(2.2346);
    // the prior and /insights took the change as stored: n-2 engaged (one), the uuid's SMS click not again
    const tally = (pooled as unknown as { delta: { tally: Record<string, { g?: Record<string, number[]> }> } }).delta
      .tally;
    expect(tally[day]?.g?.learned?.[1]).toBe(1);
  });
});

describe('configuration', () => {
  test("with a live account, the sandbox's keys and short ones are refused, each named; long ones pass", () => {
    const live = { ...SANDBOX_DEFAULTS, ACCOUNT_SID: `AC${'a'.repeat(32)}` };
    expect(() => loadConfig(live)).toThrow(/^Configuration: 4 variables to fix/);
    for (const name of ['NOTIFY_API_KEY', 'STUDIO_API_KEY', 'INSIGHTS_API_KEY', 'SENDGRID_WEBHOOK_PASSWORD'])
      expect(() => loadConfig(live)).toThrow(`${name} is too weak for a live account: at least 32 characters`);
    const strong = 'k'.repeat(32);
    const keys = { NOTIFY_API_KEY: strong, STUDIO_API_KEY: strong, INSIGHTS_API_KEY: strong };
    expect(() => loadConfig({ ...live, ...keys, SENDGRID_WEBHOOK_PASSWORD: strong })).not.toThrow();
    expect(() => loadConfig({ ...live, ...keys, SENDGRID_WEBHOOK_PASSWORD: 'x'.repeat(31) })).toThrow(
      /SENDGRID_WEBHOOK_PASSWORD is too weak for a live account/,
    );
    // the sandbox's own account runs with its published defaults
    expect(() => loadConfig({ ...SANDBOX_DEFAULTS })).not.toThrow();
  });

  test('every missing or malformed variable is named in one message', () => {
    const env = {
      ...SANDBOX_DEFAULTS,
      ACCOUNT_SID: '',
      SEGMENT_WRITE_KEY: undefined,
      QUIET_HOURS: '9pm-8am',
      DEFAULT_TIMEZONE: 'Tokyo',
      ROUTING_POLICY: 'smart',
    };
    let message = '';
    try {
      loadConfig(env);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/^Configuration: 5 variables to fix: /);
    for (const name of [
      'ACCOUNT_SID is not set',
      'SEGMENT_WRITE_KEY is not set',
      'QUIET_HOURS must be',
      'DEFAULT_TIMEZONE must be',
      'ROUTING_POLICY must be',
    ])
      expect(message).toContain(name);
  });

  test('a complete configuration loads', () => {
    const c = loadConfig({ ...SANDBOX_DEFAULTS, QUIET_HOURS: '21:00-08:00', DEFAULT_TIMEZONE: 'Asia/Tokyo' });
    expect(c).toMatchObject({ quietHours: '21:00-08:00', defaultTimezone: 'Asia/Tokyo' });
  });
});
