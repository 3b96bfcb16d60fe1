/**
 * The learner's evidence under faults and load, through the running functions
 * (default policy: learned) on a stack of their own: the evidence store down,
 * concurrent and redelivered webhooks on one user, a reply Twilio will not
 * retry, and 200 engagement events per second against Sync's per-object
 * limits (which the sandbox enforces).
 */
import { createHash } from 'node:crypto';
import { addSums, observe, type PopulationSums, sumsDelta, sumsOf } from '../src/lib/routing/learn';
import { bearer, ownStack, waitFor } from './helpers';

let c: Awaited<ReturnType<typeof ownStack>>;

beforeAll(async () => {
  c = await ownStack(() => ({ SANDBOX_CALLBACK_DELAY_MS: '20', RECOVERY_SWEEP_SECONDS: '0' }));
}, 90_000);
afterAll(() => c?.stop());
beforeEach(() => c.sandbox.reset(false));

const scores = async (userId: string, to: string) =>
  (await c.call('GET', `/channel?userId=${userId}&${to}`, { headers: bearer })).body.scores;
const record = async (notificationId: string) =>
  (await c.sandbox.documents()).find((d: { unique_name: string }) => d.unique_name === `notification-${notificationId}`)
    ?.data;
const recover = async () => (await c.call('POST', '/recover', { headers: bearer, json: {} })).body;
const open = (notificationId: string, userId: string, id: string) => ({
  event: 'open',
  sg_machine_open: false,
  sg_event_id: id,
  notification_id: notificationId,
  user_id: userId,
});

test('with the evidence store down /notify routes by trait (policy trait) and says so; the send is kept and counted by recovery', async () => {
  await c.sandbox.traits('down-1', { preferred_channel: 'email' });
  await c.sandbox.fault({ api: 'sync', status: 503, path: '/Documents/evidence-', count: 1000 });
  const res = await c.notify({
    userId: 'down-1',
    email: 'down1@example.jp',
    message: '明日の予約',
    notificationId: 'down-n1',
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    channel: 'EMAIL',
    reason: 'preference',
    policy: 'trait',
    evidence: 'unavailable',
  });
  const counted = { notificationId: 'down-n1', channel: 'EMAIL', group: 'learned', day: expect.any(String) };
  expect((await record('down-n1')).pendingEvidence).toEqual([
    // the notification itself, for /insights
    { ...counted, kind: 'notified' },
    // with the band of the user's day it went out in, where recovery counts it too, and its estimated cost (EMAIL_COST 0)
    { ...counted, kind: 'sent', band: expect.stringMatching(/^(night|morning|afternoon|evening)$/), cost: 0 },
  ]);

  await c.sandbox.fault({ api: 'sync', count: 0 }); // the store is back
  expect(await recover()).toMatchObject({ learned: 1, remaining: 0 });
  expect((await record('down-n1')).pendingEvidence).toEqual([]);
  expect((await scores('down-1', 'email=down1@example.jp')).EMAIL).toMatchObject({ sent: expect.closeTo(1, 3) });
  expect(await recover()).toMatchObject({ learned: 0, notifications: 0 }); // counted once
  expect((await scores('down-1', 'email=down1@example.jp')).EMAIL.sent).toBeCloseTo(1, 3);
});

test('a corrupt or foreign evidence document is treated as empty: /notify still routes, and the next write replaces it', async () => {
  const name = `evidence-${createHash('sha256').update('corrupt-1').digest('hex').slice(0, 40)}`;
  await c.sandbox.syncDocument(name, { v: 7, channels: 'not this', seen: 42 });
  const res = await c.notify({
    userId: 'corrupt-1',
    email: 'c1@example.jp',
    message: 'x',
    notificationId: 'corrupt-n1',
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ channel: 'EMAIL', policy: 'learned', reason: 'learned' });
  expect(res.body.evidence).toBeUndefined();
  const doc = (await c.sandbox.documents()).find((d: { unique_name: string }) => d.unique_name === name);
  expect(doc.data).toMatchObject({ v: 1, channels: { EMAIL: { sent: 1, engaged: 0, failed: 0 } } });
});

test("concurrent webhooks on one user's evidence lose no update, and redelivered ones count once", async () => {
  const ids = Array.from({ length: 12 }, (_, i) => `conc-${i}`);
  for (const notificationId of ids) {
    const res = await c.notify({
      userId: 'conc',
      email: 'conc@example.jp',
      message: 'x',
      channel: 'email',
      notificationId,
    });
    expect(res.status).toBe(200);
  }
  const deliver = () => Promise.all(ids.map((id) => c.emailEvents([open(id, 'conc', `open-${id}`)])));
  for (const answer of [...(await deliver()), ...(await deliver())]) expect(answer.status).toBe(200);
  const email = (await scores('conc', 'email=conc@example.jp')).EMAIL;
  expect(email.sent).toBeCloseTo(12, 3);
  expect(email.engaged).toBeCloseTo(12, 3);
});

test('a reply Twilio will not retry, with the evidence store down, is kept and counted by recovery', async () => {
  const phone = '+819011112222';
  expect(
    (await c.notify({ userId: 'reply-1', phone, message: '確認', channel: 'sms', notificationId: 'reply-n1' })).status,
  ).toBe(200);
  await c.sandbox.fault({ api: 'sync', status: 503, path: '/Documents/evidence-', count: 1000 });
  const delivered = await c.sandbox.inboundSms(phone, 'はい');
  expect(delivered.delivered).toBe(200); // answered 200: the work is kept
  expect((await record('reply-n1')).pendingEvidence).toEqual([
    { notificationId: 'reply-n1', channel: 'SMS', kind: 'engaged' },
  ]);
  await c.sandbox.fault({ api: 'sync', count: 0 });
  expect(await recover()).toMatchObject({ learned: 1 });
  expect((await scores('reply-1', `phone=${encodeURIComponent(phone)}`)).SMS.engaged).toBeCloseTo(1, 3);
});

test('200 engagement events a second for 11 s: every event counted, no Sync object over its limit', async () => {
  const SECONDS = 11;
  const PER_SECOND = 200;
  await c.sandbox.emailRecords(
    Array.from({ length: SECONDS * PER_SECOND }, (_, i) => [
      `load-n-${Math.floor(i / PER_SECOND)}-${i % PER_SECOND}`,
      `load-${Math.floor(i / PER_SECOND)}-${i % PER_SECOND}`,
    ]),
  );
  const start = Date.now();
  const posts: Array<Promise<number>> = [];
  for (let s = 0; s < SECONDS; s++) {
    const wait = start + s * 1000 - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const batch = Array.from({ length: PER_SECOND }, (_, j) =>
      open(`load-n-${s}-${j}`, `load-${s}-${j}`, `load-${s}-${j}`),
    );
    posts.push(c.emailEvents(batch).then((a) => a.status));
  }
  expect(await Promise.all(posts)).toEqual(Array(SECONDS).fill(200));
  const elapsed = (Date.now() - start) / 1000;

  // what the prior's lists add up to: every user's change, pooled per shard per invocation; a batch of
  // over 100 notifications has its evidence counted by the /recover it starts, seconds after its answer
  const one = sumsDelta({}, observe({}, 'EMAIL', 'engaged', Date.now(), 30)).EMAIL;
  const prior = async () => {
    const lists: Array<{ unique_name: string; items: number }> = await c.sandbox.lists();
    const priorLists = lists.filter((l) => l.unique_name.startsWith('prior-'));
    let stored: PopulationSums = {};
    for (const l of priorLists)
      for (const item of await c.sandbox.listItems(l.unique_name)) stored = addSums(stored, sumsOf(item.data));
    return { lists, priorLists, stored };
  };
  const everyUser = SECONDS * PER_SECOND * (one?.users ?? 0);
  await waitFor(async () => ((await prior()).stored.EMAIL?.users ?? 0) >= everyUser - 0.05);
  const { lists, priorLists, stored } = await prior();
  const limits = await c.sandbox.limits();
  const appended = priorLists.reduce((n, l) => n + l.items, 0);
  const busiest = Math.max(...lists.map((l) => l.items));
  console.log(
    `${SECONDS * PER_SECOND} events in ${elapsed.toFixed(1)} s: busiest object ${limits.peak.write.units} write units ` +
      `in a 10 s window (Sync allows 200), busiest prior list ${busiest} items, ${limits.throttled.length} refused`,
  );
  expect(limits.throttled).toEqual([]);
  // each event a new user: every one's delta is in the prior, in at most one append per shard per batch
  expect(stored.EMAIL?.users).toBeCloseTo(SECONDS * PER_SECOND * (one?.users ?? 0), 1);
  expect(stored.EMAIL?.k).toBeCloseTo(SECONDS * PER_SECOND * (one?.k ?? 0), 0);
  expect(appended).toBeLessThanOrEqual(SECONDS * 32);
  expect(limits.peak.write.units).toBeLessThan(120); // well under 200: not at the edge of the limit
}, 60_000);

test('a large batch leaves its evidence to recovery: kept while the store is down, then each open counted once with one identify per user', async () => {
  const N = 150; // two chunks of 100 notifications: counted by the /recover the batch starts
  const batch = Array.from({ length: N }, (_, i) => open(`big-n-${i}`, `big-${i}`, `big-e-${i}`));
  await c.sandbox.emailRecords(Array.from({ length: N }, (_, i) => [`big-n-${i}`, `big-${i}`]));
  const identified = async () =>
    (await c.sandbox.events({ type: 'identify' })).filter(
      (e) => e.userId?.startsWith('big-') && (e.traits as { best_channel?: string } | undefined)?.best_channel,
    );
  const evidenceParcels = async () =>
    (await c.sandbox.documents()).filter((d: { unique_name: string }) => /^parcel-.*-e\d+$/.test(d.unique_name));

  await c.sandbox.fault({ api: 'sync', status: 503, path: '/Documents/evidence-', count: 100_000 });
  expect((await c.emailEvents(batch)).status).toBe(200); // the batch itself never waits for the evidence
  expect((await recover()).learned).toBe(0); // the store is down: nothing counted, nothing lost
  expect((await evidenceParcels()).length).toBeGreaterThan(0);
  expect(await identified()).toEqual([]);

  await c.sandbox.fault({ api: 'sync', count: 0 }); // the store is back
  // a parcel that failed waits before its next try (1, 2, 4 … minutes: store/parcels.ts), so that a
  // poison one is not retried without end; the failed tries so far were at most two
  await c.sandbox.advance(3 * 60);
  await recover();
  await waitFor(async () => (await identified()).length === N && (await evidenceParcels()).length === 0);
  // each user once: one identify each (a repeat would be a rejected duplicate), one engagement each
  expect(new Set((await identified()).map((e) => e.userId)).size).toBe(N);
  for (const i of [0, 99, 100, 149])
    expect((await scores(`big-${i}`, `email=big${i}@example.jp`)).EMAIL.engaged).toBeCloseTo(1, 3);

  // the same batch again (SendGrid's redelivery): answered from its ledger, nothing counted twice
  expect((await c.emailEvents(batch)).status).toBe(200);
  expect((await recover()).learned).toBe(0);
  expect((await scores('big-7', 'email=big7@example.jp')).EMAIL.engaged).toBeCloseTo(1, 3);
}, 60_000);
