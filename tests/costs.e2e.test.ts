/**
 * Issue 31 through the running functions: what each send is expected to cost (the sandbox's Pricing
 * API, cached in Sync), carried by /notify's and /channel's answers, the record and Segment's
 * `Notification Sent`; routing for value (ENGAGEMENT_VALUE or `value`) weighs it, except for urgent
 * or explicit channels, the holdout's baseline, and channels whose price is unknown.
 */
import { SANDBOX_PRICES } from '../sandbox/pricing';
import { clientOf, ownStack, waitFor } from './helpers';

type Client = Awaited<ReturnType<typeof ownStack>>;
let stack: Client;
beforeAll(async () => {
  stack = await ownStack(() => ({
    SANDBOX_CALLBACK_DELAY_MS: '20',
    RECOVERY_SWEEP_SECONDS: '0',
    EMAIL_COST: '0.0004',
    HOLDOUT_PERCENT: '50',
  }));
}, 120_000);
afterAll(() => stack?.stop());

const JP_SMS = SANDBOX_PRICES.JP.sms.perSegment.mobile;
const JP_MOBILE_MINUTE = 0.15;
const key = { Authorization: 'Bearer sandbox-notify-api-key' };

let n = 0;
const person = (name: string) => {
  n += 1;
  return { userId: `${name}-${n}`, phone: `+8190${String(60_000_000 + n).slice(-8)}`, email: `${name}${n}@example.jp` };
};

/** A user id the holdout routes (or not): the assignment is a stable hash, asked of /channel. */
async function userIn(c: ReturnType<typeof clientOf>, holdout: boolean, name: string) {
  for (let i = 0; i < 50; i++) {
    const u = person(name);
    const r = await c.call('GET', `/channel?userId=${u.userId}&email=${u.email}`, { headers: key });
    if (Boolean(r.body.holdout) === holdout) return u;
  }
  throw new Error('no such user in 50 tries');
}

test('an SMS costs its segments × the country price; a call its expected minutes × the prefix price; Segment and the record carry it', async () => {
  const c = clientOf(stack.urls);
  const u = person('costed');
  // 100 Japanese characters: UCS-2, two segments (67 each)
  const message = 'お'.repeat(100);
  const sms = await c.notify({ ...u, channel: 'sms', notificationId: 'cost-sms', message });
  expect(sms.status).toBe(200);
  expect(sms.body).toMatchObject({ channel: 'SMS', segments: 2, cost: 2 * JP_SMS, currency: 'USD' });
  const call = await c.notify({ ...u, channel: 'call', notificationId: 'cost-call', message: 'お知らせです。' });
  expect(call.body).toMatchObject({ channel: 'CALL', cost: JP_MOBILE_MINUTE, currency: 'USD' });
  const email = await c.notify({ ...u, channel: 'email', notificationId: 'cost-email', message: 'hello' });
  expect(email.body).toMatchObject({ channel: 'EMAIL', cost: 0.0004, currency: 'USD' });
  const sent = await c.sandbox.events({ type: 'track', event: 'Notification Sent' });
  const props = (id: string) => sent.find((e) => e.properties?.notification_id === id)?.properties;
  expect(props('cost-sms')).toMatchObject({ cost: 2 * JP_SMS, currency: 'USD', cost_basis: 'estimate', segments: 2 });
  expect(props('cost-call')).toMatchObject({ cost: JP_MOBILE_MINUTE, currency: 'USD' });
  // the estimate is what the sandbox charges the message once sent (as Twilio writes it, negative)
  await c.sandbox.settle();
  const charged = (await c.sandbox.messages()).find(
    (m: { resource: { sid: string } }) => m.resource.sid === sms.body.providerId,
  );
  expect(Number(charged.resource.price)).toBeCloseTo(-2 * JP_SMS, 5);
  // the prices are kept in Sync for the country, with when they were read
  const docs = await c.sandbox.documents();
  const jp = docs.find((d: { unique_name: string }) => d.unique_name === 'prices-JP');
  expect(jp.data).toMatchObject({ country: 'JP', currency: 'USD', smsPerSegment: JP_SMS });
});

test("an escalation's steps each carry their cost", async () => {
  const c = clientOf(stack.urls);
  const u = person('escalated');
  const r = await c.notify({
    ...u,
    notificationId: 'cost-escalation',
    message: 'ご予約の確認です',
    escalation: 'call,sms,email',
  });
  expect(r.status).toBe(200);
  expect(r.body.steps.map((s: { channel: string; cost: number }) => [s.channel, s.cost])).toEqual([
    ['CALL', JP_MOBILE_MINUTE],
    ['SMS', JP_SMS],
    ['EMAIL', 0.0004],
  ]);
  expect(r.body.cost).toBe(JP_MOBILE_MINUTE);
});

test("/channel answers each reachable channel's cost; with a value it routes for value (the cheapest of equals), urgent or not asked it does not", async () => {
  const c = clientOf(stack.urls);
  const u = await userIn(c, false, 'valued');
  const q = `userId=${u.userId}&phone=${encodeURIComponent(u.phone)}&email=${u.email}`;
  const plain = await c.call('GET', `/channel?${q}`, { headers: key });
  expect(plain.body).toMatchObject({
    currency: 'USD',
    costs: { SMS: JP_SMS, CALL: JP_MOBILE_MINUTE, EMAIL: 0.0004 },
  });
  expect(plain.body.objective).toBeUndefined();
  // a new user: every channel's engagement is rated the same, so its price decides
  for (let i = 0; i < 5; i++) {
    const valued = await c.call('GET', `/channel?${q}&value=1`, { headers: key });
    expect(valued.body).toMatchObject({ channel: 'EMAIL', objective: 'value', cost: 0.0004 });
  }
  const sent = await c.notify({ ...u, notificationId: 'cost-valued', message: 'hello', value: 1 });
  expect(sent.body).toMatchObject({ channel: 'EMAIL', objective: 'value', cost: 0.0004 });
  // urgent: the caller wants it through, whatever it costs (no objective: cost is not weighed)
  const urgent = await c.notify({ ...u, notificationId: 'cost-urgent', message: 'hello', value: 1, urgent: true });
  expect(urgent.body.objective).toBeUndefined();
});

test('the holdout keeps its baseline: its preferred channel, whatever the value', async () => {
  const c = clientOf(stack.urls);
  const u = await userIn(c, true, 'held');
  await c.sandbox.traits(u.userId, { preferred_channel: 'sms' });
  const r = await c.notify({ ...u, notificationId: 'cost-holdout', message: 'hello', value: 1 });
  expect(r.body).toMatchObject({ holdout: true, channel: 'SMS', reason: 'preference', objective: 'engagement' });
  expect(r.body.warnings).toBeUndefined();
});

test('a number whose country has no price: its cost is unknown (null), and value routing says it cannot weigh it', async () => {
  const c = clientOf(stack.urls);
  const u = await userIn(c, false, 'abroad');
  const fr = { ...u, phone: '+33612345678' };
  const r = await c.notify({
    ...fr,
    notificationId: 'cost-unknown',
    channel: 'sms',
    message: 'bonjour',
    locale: 'fr-FR',
  });
  expect(r.body).toMatchObject({ channel: 'SMS', cost: null, currency: 'USD' });
  const valued = await c.notify({
    ...fr,
    notificationId: 'cost-unknown-2',
    message: 'bonjour',
    locale: 'fr-FR',
    value: 1,
  });
  expect(valued.body.objective).toBe('engagement');
  expect(valued.body.warnings).toEqual([expect.stringContaining('the cost of SMS and CALL is unknown')]);
});

test('prices are read from the Pricing API at most once a day; while it is down, the last ones stay in use', async () => {
  const c = clientOf(stack.urls);
  const fetchedAt = async () =>
    (await c.sandbox.documents()).find((d: { unique_name: string }) => d.unique_name === 'prices-JP').data.fetchedAt;
  const u = person('daily');
  const send = (id: string) => c.notify({ ...u, channel: 'sms', notificationId: id, message: 'お知らせ' });
  expect((await send('daily-1')).body.cost).toBe(JP_SMS);
  const first = await fetchedAt();
  expect((await send('daily-2')).body.cost).toBe(JP_SMS);
  expect(await fetchedAt()).toBe(first);
  // a day later, with the Pricing API down: the day-old prices are used, and kept
  await c.sandbox.advance(25 * 3600);
  await c.sandbox.fault({ api: 'twilio', status: 500, path: '/pricing', count: 1000 });
  expect((await send('daily-3')).body.cost).toBe(JP_SMS);
  expect(await fetchedAt()).toBe(first);
  await c.sandbox.fault({ api: 'twilio', status: 500, path: '/pricing', count: 0 });
  expect((await send('daily-4')).body.cost).toBe(JP_SMS);
  expect(Date.parse(await fetchedAt()) - Date.parse(first)).toBeGreaterThanOrEqual(25 * 3600 * 1000);
});

test("/insights' spend is the sum of Notification Sent's cost, per group and per channel; net value with a value", async () => {
  const c = clientOf(stack.urls);
  await c.sandbox.settle();
  const sum = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) * 1e6) / 1e6;
  // rebuilt as a warehouse query would: Notification Sent's cost, by group and by channel
  const fromSegment = async () => {
    const sent = (await c.sandbox.events({ type: 'track', event: 'Notification Sent' })).map((e) => e.properties ?? {});
    const by = (k: string) => {
      const out: Record<string, number> = {};
      for (const p of sent) out[String(p[k])] = sum([out[String(p[k])] ?? 0, Number(p.cost ?? 0)]);
      return out;
    };
    return { group: by('group'), channel: by('channel') };
  };
  const insights = () => c.call('GET', '/insights?value=0.5', { headers: key }).then((r) => r.body);
  const spendOf = (report: any) => ({
    group: Object.fromEntries(Object.entries(report.groups).map(([g, r]: [string, any]) => [g, r.spend.total])),
    channel: Object.fromEntries(Object.entries(report.channels).map(([ch, r]: [string, any]) => [ch, r.spend.total])),
  });
  // scheduled steps are counted when their provider reports them sent: wait until both agree
  let last: unknown;
  await waitFor(async () => {
    const [segment, report] = await Promise.all([fromSegment(), insights()]);
    last = { segment, report: spendOf(report) };
    const same = (x: Record<string, number>, y: Record<string, number>) =>
      [...new Set([...Object.keys(x), ...Object.keys(y)])].every((k) => Math.abs((x[k] ?? 0) - (y[k] ?? 0)) < 1e-6);
    return same(segment.group, spendOf(report).group) && same(segment.channel, spendOf(report).channel);
  }, 15_000).catch(() => {
    throw new Error(`spend differs: ${JSON.stringify(last)}`);
  });
  const report = await insights();
  expect(report).toMatchObject({ currency: 'USD', value: 0.5 });
  const override = report.groups.override;
  const spend = override.spend;
  expect(spend.perNotification).toBeCloseTo(spend.total / override.notifications, 9);
  expect(spend.netValue.total).toBeCloseTo(override.engaged * 0.5 - spend.total, 9);
  if (override.engaged > 0) {
    expect(spend.perEngagement.cost).toBeCloseTo(spend.total / override.engaged, 9);
    expect(spend.perEngagement.interval[0]).toBeLessThanOrEqual(spend.perEngagement.cost);
  }
});
