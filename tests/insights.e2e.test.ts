/**
 * Proving the lift: a population routed with HOLDOUT_PERCENT=20 (the holdout by the tutorial's
 * trait), every engagement flowing back through the webhooks. /insights must equal, count for
 * count, what a Segment user computes from the events Segment received, and its lift interval must
 * contain the population's true lift (what the choices made were worth, from the simulated
 * contacts' known probabilities).
 */
import type { Channel } from '../src/lib/channels/channel';
import { bucketOf } from '../src/lib/routing/holdout';
import { type Answer, clientOf, notifyEach, ownStack, type SegmentEvent } from './helpers';

const USERS = 60;
const ROUNDS = 5;
const OWN: Channel[] = ['SMS', 'CALL', 'EMAIL'];
/** each contact answers its own channel almost always and the others rarely */
const P_OWN = 0.95;
const P_OTHER = 0.03;

type Client = Awaited<ReturnType<typeof ownStack>>;
let stack: Client;
beforeAll(async () => {
  stack = await ownStack(() => ({
    SANDBOX_CALLBACK_DELAY_MS: '20',
    RECOVERY_SWEEP_SECONDS: '0',
    HOLDOUT_PERCENT: '20',
    HOLDOUT_POLICY: 'trait',
  }));
}, 120_000);
afterAll(() => stack?.stop());

const user = (i: number) => ({
  userId: `lift-${i}`,
  phone: `+8190${String(40_000_000 + i).slice(-8)}`,
  email: `lift${i}@example.jp`,
  own: OWN[i % 3],
});
const engageOf = (own: Channel) =>
  Object.fromEntries(OWN.map((c) => [c, c === own ? P_OWN : P_OTHER])) as Record<Channel, number>;

/** distinct notification ids of `events` matching `keep` */
const distinct = (events: SegmentEvent[], keep: (e: SegmentEvent) => boolean) =>
  new Set(events.filter(keep).map((e) => e.properties?.notification_id as string));

test('/insights equals the counts taken from Segment, and its lift interval contains the true lift', async () => {
  const c = clientOf(stack.urls);
  await c.sandbox.reset(true);
  for (let i = 0; i < USERS; i++) {
    const u = user(i);
    const engage = engageOf(u.own);
    // every 9th contact's SMS never arrives: failures are counted too
    const unreachable: Channel[] = i % 9 === 4 ? ['SMS'] : [];
    await c.sandbox.contact(u.phone, { engage, reply: 'はい', unreachable });
    await c.sandbox.contact(u.email, { engage });
    // the tutorial's trait: the most frequent channel, right for a third of the users
    await c.sandbox.traits(u.userId, { preferred_channel: 'SMS' });
  }
  const answers: Answer[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await notifyEach({ notify: async (p) => answers[answers.push(await c.notify(p)) - 1] }, USERS, (i) => {
      const { own: _own, ...u } = user(i);
      return { ...u, notificationId: `lift-${round}-${i}`, message: 'ご予約の確認です' };
    });
    await c.sandbox.settle();
  }
  // an explicit channel is counted apart
  const override = await c.notify({ ...user(0), own: undefined, channel: 'email', message: 'お知らせ' });
  expect(override.body).toMatchObject({ group: 'override' });
  await c.sandbox.settle();

  // the holdout is exactly the users whose stable bucket is under 20, and says so everywhere
  const holdoutUsers = new Set(
    Array.from({ length: USERS }, (_, i) => user(i).userId).filter((id) => bucketOf(id) < 20),
  );
  expect(holdoutUsers.size).toBeGreaterThan(5);
  for (const a of answers) {
    const inHoldout = holdoutUsers.has(a.body.userId);
    expect(a.body).toMatchObject({ group: inHoldout ? 'holdout' : 'learned', policy: inHoldout ? 'trait' : 'learned' });
    expect(a.body.holdout).toBe(inHoldout ? true : undefined);
  }

  // what a Segment user computes: every track event about a notification carries its group
  const events = (await c.sandbox.events({ type: 'track' })).filter((e) => e.properties?.notification_id);
  expect(events.filter((e) => !e.properties?.group)).toEqual([]);
  const of = (group: string) => events.filter((e) => e.properties?.group === group);
  const res = await c.call('GET', '/insights', { headers: { Authorization: 'Bearer sandbox-notify-api-key' } });
  expect(res.status).toBe(200);
  const report = res.body;
  expect(report.complete).toBe(true);
  for (const group of ['learned', 'holdout', 'override']) {
    const g = of(group);
    const notified = distinct(g, (e) => ['Notification Sent', 'Notification Scheduled'].includes(e.event ?? ''));
    const engaged = distinct(g, (e) => e.event === 'Notification Engaged');
    const mix: Record<string, number> = {};
    for (const e of g.filter((e) => e.event === 'Notification Sent')) {
      mix[e.properties?.channel] = (mix[e.properties?.channel] ?? 0) + 1;
    }
    expect([group, report.groups[group].notifications, report.groups[group].engaged]).toEqual([
      group,
      notified.size,
      engaged.size,
    ]);
    const counted = Object.fromEntries(Object.entries(report.groups[group].mix).map(([ch, m]: any) => [ch, m.count]));
    expect(counted).toEqual(mix);
  }
  expect(report.groups.learned.notifications + report.groups.holdout.notifications).toBe(USERS * ROUNDS);
  for (const channel of OWN) {
    const on = events.filter((e) => e.properties?.channel === channel);
    const pairs = (names: string[]) => distinct(on, (e) => names.includes(e.event ?? '')).size;
    expect([channel, report.channels[channel]]).toMatchObject([
      channel,
      {
        sent: pairs(['Notification Sent']),
        delivered: pairs(['Notification Delivered', 'Notification Answered']),
        failed: pairs(['Notification Failed']),
        engaged: pairs(['Notification Engaged']),
      },
    ]);
  }
  expect(report.channels.SMS.failed).toBeGreaterThan(0);

  // the true lift: what each arm's choices were worth, from the contacts' probabilities
  const expected = (group: string) => {
    const mine = answers.filter((a) => a.body.group === group);
    const worth = mine.map((a) => {
      const i = Number(a.body.userId.split('-')[1]);
      return a.body.channel === 'SMS' && i % 9 === 4 ? 0 : engageOf(user(i).own)[a.body.channel as Channel];
    });
    return worth.reduce((s, p) => s + p, 0) / mine.length;
  };
  const [learned, holdout] = [expected('learned'), expected('holdout')];
  const { lift } = report;
  console.log(
    `learned ${report.groups.learned.engaged}/${report.groups.learned.notifications}, holdout ${report.groups.holdout.engaged}/${report.groups.holdout.notifications}; true lift ${(learned - holdout).toFixed(3)}; reported ${lift.difference.toFixed(3)} [${lift.differenceInterval.map((x: number) => x.toFixed(3))}], ratio ${lift.ratio.toFixed(2)} [${lift.ratioInterval.map((x: number) => x.toFixed(2))}]`,
  );
  expect(lift.differenceInterval[0]).toBeLessThanOrEqual(learned - holdout);
  expect(lift.differenceInterval[1]).toBeGreaterThanOrEqual(learned - holdout);
  expect(lift.ratioInterval[0]).toBeLessThanOrEqual(learned / holdout);
  expect(lift.ratioInterval[1]).toBeGreaterThanOrEqual(learned / holdout);
  // the engagement intervals are Wilson's, around each group's rate
  const l = report.groups.learned;
  expect(l.engagement.rate).toBeCloseTo(l.engaged / l.notifications, 10);
  expect(l.engagement.interval[0]).toBeLessThan(l.engagement.rate);
  // per day, per group, and the learner's prior
  expect(report.daily.length).toBeGreaterThan(0);
  expect(report.daily.reduce((n: number, d: any) => n + (d.learned?.notifications ?? 0), 0)).toBe(l.notifications);
  expect(Object.keys(report.prior.channels).sort()).toEqual(['CALL', 'EMAIL', 'SMS']);
  expect(report.outbox).toEqual({ waiting: 0 });
}, 300_000);

test('/insights refuses a bad window and callers without the key', async () => {
  const c = clientOf(stack.urls);
  const headers = { Authorization: 'Bearer sandbox-notify-api-key' };
  const bad = await c.call('GET', '/insights?since=yesterday', { headers });
  expect(bad.status).toBe(400);
  expect(bad.body.error).toMatchObject({ field: 'since' });
  const old = await c.call('GET', '/insights?since=2020-01-01', { headers });
  expect(old.body.error).toMatchObject({ field: 'since' });
  expect((await c.call('GET', '/insights')).status).toBe(401);
});
