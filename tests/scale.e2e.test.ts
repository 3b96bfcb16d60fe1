/**
 * Campaign scale, through the running functions on a stack of their own whose
 * sandbox imposes Twilio's limits (100 requests in flight per account, 20429
 * past it; 10 s per invocation; 1 MB bodies) and a realistic latency per API.
 * The campaign's Event Webhook batch at full size, its redelivery, a larger
 * batch, a Segment outage during a large batch, and bursts of 300 replies and
 * 300 /notify calls arriving at once. Capacity figures come from
 * `npm run bench:scale`, never from timings asserted here: what is asserted
 * is the platform's limits (2xx, within 10 s, within the budget) and that
 * nothing is lost or counted twice.
 */
import { createHash } from 'node:crypto';
import { DEFAULT_UPSTREAM_CONCURRENCY } from '../src/lib/upstream';
import { bearer, ownStack, waitFor } from './helpers';

const LATENCY = 'twilio:50,sync:50,sendgrid:80,segment:60,profiles:60';
let c: Awaited<ReturnType<typeof ownStack>>;

beforeAll(async () => {
  c = await ownStack(() => ({ SANDBOX_CALLBACK_DELAY_MS: '20', RECOVERY_SWEEP_SECONDS: '0' }));
}, 90_000);
afterAll(() => c?.stop());
beforeEach(() => c.sandbox.reset(false));

async function pool(n: number, concurrency: number, run: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await run(next++);
    }),
  );
}

/** n email notifications, sent with no latency (setting the scene is not what is tested), then the latency on. */
async function emailCampaign(prefix: string, n: number) {
  await c.sandbox.upstream({ latency: '' });
  await pool(n, 16, async (i) => {
    const res = await c.notify({
      userId: `${prefix}-${i}`,
      email: `${prefix}-${i}@example.jp`,
      message: 'ご予約のお知らせ',
      channel: 'email',
      notificationId: `${prefix}.${i}`,
    });
    expect(res.status).toBe(200);
  });
  await c.sandbox.upstream({ latency: LATENCY, resetStats: true });
  await c.sandbox.invocationsReset();
}

const engaged = async (prefix: string) =>
  (await c.sandbox.events({ type: 'track', event: 'Notification Engaged' })).filter((e) =>
    e.userId?.startsWith(`${prefix}-`),
  );

const evidenceOf = async (userIds: string[]) => {
  const docs: Array<{ unique_name: string; data: any }> = await c.sandbox.documents();
  const byName = new Map(docs.map((d) => [d.unique_name, d.data]));
  return userIds.map(
    (u) => byName.get(`evidence-${createHash('sha256').update(u).digest('hex').slice(0, 40)}`)?.channels?.EMAIL,
  );
};

/** Within Twilio's limits: no invocation near 10 s, none answered 5xx, the account never refused. */
async function expectWithinLimits() {
  const inv = await c.sandbox.invocations();
  expect(inv.killed).toBe(0);
  expect(inv.maxMs).toBeLessThan(10_000);
  expect(inv.serverErrors).toBe(0);
  expect(inv.tooLarge).toBe(0);
  return inv;
}

test("the campaign's Event Webhook batch at full size (800 users: processed, delivered, open) is answered 2xx within the limits; every open counted once; a redelivery changes nothing", async () => {
  // the most that fits one post: each event carries its email's custom_args (with their binding)
  await emailCampaign('big', 800);
  const { batches } = await c.sandbox.campaignEvents(['processed', 'delivered', 'open']);
  expect(batches).toHaveLength(1); // one POST, as SendGrid makes it: 2,400 events under 768 KB
  expect(batches[0]).toMatchObject({ events: 2400, status: 200 });
  expect(batches[0].bytes).toBeLessThanOrEqual(768 * 1024);
  const upstream = await c.sandbox.upstreamStats();
  expect(upstream.peakInFlight).toBeLessThanOrEqual(DEFAULT_UPSTREAM_CONCURRENCY);
  expect(upstream.refused).toBe(0);
  await expectWithinLimits();

  // every open once in Segment (what recovery still completes included) and in the learner's evidence
  const users = Array.from({ length: 800 }, (_, i) => `big-${i}`);
  await waitFor(async () => (await engaged('big')).length === 800);
  const events = await engaged('big');
  expect(new Set(events.map((e) => e.properties?.notification_id)).size).toBe(800);
  expect((await c.sandbox.events({ type: 'track', event: 'Notification Opened' })).length).toBe(800);
  await waitFor(async () => (await evidenceOf(users)).every((e) => e && e.engaged > 0.99));
  for (const e of await evidenceOf(users)) expect(e.engaged).toBeCloseTo(1, 2);

  // the same batch again: 2xx, and nothing changes (no Sync write, no Segment request), once what a
  // busy machine left for recovery is done (the outbox empty)
  const outboxEmpty = async () =>
    (await c.sandbox.documents())
      .filter((d: { unique_name?: string }) => d.unique_name?.startsWith('outbox-'))
      .every((d: { data?: { ids?: object } }) => Object.keys(d.data?.ids ?? {}).length === 0);
  await waitFor(outboxEmpty);
  const revisions = async () =>
    JSON.stringify(
      (await c.sandbox.documents()).map((d: { unique_name: string; revision: string }) => [d.unique_name, d.revision]),
    );
  const before = { docs: await revisions(), segment: (await c.sandbox.requests()).segment ?? 0 };
  const again = await c.sandbox.campaignEvents([], true);
  expect(again.batches[0]).toMatchObject({ status: 200, answer: { duplicate: true } });
  expect(await revisions()).toBe(before.docs);
  expect((await c.sandbox.requests()).segment ?? 0).toBe(before.segment);
  for (const e of await evidenceOf(users)) expect(e.engaged).toBeCloseTo(1, 2);
}, 120_000);

test("a batch of 1,500 users' opens (one POST) is answered 2xx within the limits; what did not fit is completed by recovery, each open once", async () => {
  await emailCampaign('wide', 1500);
  // an open costs what a delivered and an open of one notification cost together (a record and evidence)
  const { batches } = await c.sandbox.campaignEvents(['open']);
  expect(batches).toHaveLength(1);
  expect(batches[0]).toMatchObject({ events: 1500, status: 200 });
  expect((await c.sandbox.upstreamStats()).peakInFlight).toBeLessThanOrEqual(DEFAULT_UPSTREAM_CONCURRENCY);
  await waitFor(async () => (await engaged('wide')).length >= 1500, 60_000);
  const events = await engaged('wide');
  expect(events).toHaveLength(1500);
  expect(new Set(events.map((e) => e.properties?.notification_id)).size).toBe(1500);
  const users = Array.from({ length: 1500 }, (_, i) => `wide-${i}`);
  await waitFor(async () => (await evidenceOf(users)).every((e) => e && e.engaged > 0.99), 30_000);
  await expectWithinLimits();
  // nothing left behind: no parcel, an empty outbox
  await waitFor(async () => {
    const docs: Array<{ unique_name: string; data: any }> = await c.sandbox.documents();
    const listed = docs.filter((d) => d.unique_name.startsWith('outbox-')).flatMap((d) => Object.keys(d.data.ids));
    return listed.length === 0 && !docs.some((d) => d.unique_name.startsWith('parcel-'));
  });
}, 150_000);

test('a Segment outage during a large batch: kept within Sync limits, answered 2xx, delivered by recovery once Segment is back, nothing twice', async () => {
  await emailCampaign('out', 400);
  await c.sandbox.fault({ api: 'segment', status: 503, count: 100_000 });
  const { batches } = await c.sandbox.campaignEvents(['delivered', 'open']);
  expect(batches[0]).toMatchObject({ status: 200, answer: { chunks: { total: 4, kept: 4 } } });
  expect(await engaged('out')).toHaveLength(0);
  // kept in a few small documents, nothing throttled, nothing over 16 KiB
  const docs: Array<{ unique_name: string; data: unknown }> = await c.sandbox.documents();
  for (const d of docs) expect(Buffer.byteLength(JSON.stringify(d.data))).toBeLessThanOrEqual(16 * 1024);
  expect(docs.filter((d) => d.unique_name.startsWith('parcel-')).length).toBeGreaterThanOrEqual(4);
  expect((await c.sandbox.limits()).throttled).toEqual([]);

  await c.sandbox.fault({ api: 'segment', count: 0 }); // Segment is back
  const recovered = await c.call('POST', '/recover', { headers: bearer, json: {} });
  expect(recovered.status).toBe(200);
  await waitFor(async () => (await engaged('out')).length === 400);
  await c.call('POST', '/recover', { headers: bearer, json: {} }); // again: nothing more to deliver
  const events = await engaged('out');
  expect(events).toHaveLength(400);
  const opened = await c.sandbox.events({ type: 'track', event: 'Notification Opened' });
  expect(opened.filter((e) => e.userId?.startsWith('out-'))).toHaveLength(400);
  expect(new Set(opened.map((e) => e.messageId)).size).toBe(opened.length);
  expect((await c.sandbox.documents()).some((d: any) => d.unique_name.startsWith('parcel-'))).toBe(false);
  await expectWithinLimits();
}, 120_000);

test('300 SMS replies to a campaign arriving at once: each counted once, none answered 5xx, every invocation within 10 s', async () => {
  await c.sandbox.upstream({ latency: '' });
  const phone = (i: number) => `+8190${String(60_000_000 + i)}`;
  await pool(300, 16, async (i) => {
    const res = await c.notify({
      userId: `rep-${i}`,
      phone: phone(i),
      message: '明日',
      channel: 'sms',
      notificationId: `rep.${i}`,
    });
    expect(res.status).toBe(200);
  });
  await c.sandbox.upstream({ latency: LATENCY, resetStats: true });
  await c.sandbox.invocationsReset();
  const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => c.sandbox.inboundSms(phone(i), 'はい')));
  expect(answers.map((a) => a.delivered)).toEqual(Array(300).fill(200));
  const replied = (await c.sandbox.events({ type: 'track', event: 'Notification Replied' })).filter((e) =>
    e.userId?.startsWith('rep-'),
  );
  expect(replied).toHaveLength(300);
  expect((await engaged('rep')).length).toBe(300);
  const inv = await expectWithinLimits();
  console.log(
    `300 replies at once: account 429s ${(await c.sandbox.upstreamStats()).refused}, slowest invocation ${inv.maxMs} ms`,
  );
}, 120_000);

test('300 /notify calls at once: each sent once, none answered 5xx, every invocation within 10 s', async () => {
  await c.sandbox.upstream({ latency: LATENCY, resetStats: true });
  await c.sandbox.invocationsReset();
  const answers = await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      c.notify({
        userId: `burst-${i}`,
        phone: `+8190${String(70_000_000 + i)}`,
        message: 'x',
        notificationId: `burst.${i}`,
      }),
    ),
  );
  expect(answers.filter((a) => a.status !== 200).map((a) => a.body)).toEqual([]);
  const sent = [...(await c.sandbox.messages()), ...(await c.sandbox.calls()), ...(await c.sandbox.emails())];
  expect(sent).toHaveLength(300);
  const inv = await expectWithinLimits();
  console.log(
    `300 /notify at once: account 429s ${(await c.sandbox.upstreamStats()).refused}, slowest invocation ${inv.maxMs} ms`,
  );
}, 120_000);
