/**
 * Short outages of Sync and the providers: nothing the service accepted ends
 * half-done, and every upstream failure is a 429/502/503, never a 500.
 */
import { CHANNELS } from '../src/lib/channel-list';
import { bearer, call, notify, sandbox, signedPost } from './helpers';

const PHONE = '+819012345678';
const EMAIL = 'hanako@example.jp';
let seq = 0;
const uid = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${seq++}`;
const record = async (id: string) =>
  (await call('GET', `/notification?notificationId=${id}`, { headers: bearer })).body;

beforeEach(() => sandbox.reset(false));

test('a Sync outage at the start of /notify is a 503 with Retry-After, nothing sent', async () => {
  await sandbox.fault({ api: 'sync', status: 503, count: 10 });
  const res = await notify({ userId: uid('sync-down'), phone: PHONE, message: 'm', channel: 'sms' });
  expect(res.status).toBe(503);
  expect(res.body.error.code).toBe('upstream_unavailable');
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(await sandbox.messages()).toEqual([]);
});

test('Twilio throttling past what one invocation can wait is a 429 with Retry-After, lock released', async () => {
  const notificationId = uid('n-throttled');
  const params = { userId: uid('throttled'), phone: PHONE, message: 'm', channel: 'sms', notificationId };
  // Retry-After 5 s is longer than the service waits inside one invocation (2 s); the message's create
  // is throttled (the Pricing API, read when no other test has warmed the price cache, passes)
  await sandbox.fault({
    api: 'twilio',
    status: 429,
    count: 1,
    method: 'POST',
    path: 'Messages.json',
    headers: { 'Retry-After': '5' },
  });
  const res = await notify(params);
  expect([res.status, res.body.error.code]).toEqual([429, 'rate_limited']);
  expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  expect((await notify(params)).body).toMatchObject({ status: 'sent', notificationId });
  expect((await sandbox.messages()).length).toBe(1);
});

test("a final record write that fails at first is retried within /notify's deadline", async () => {
  const notificationId = uid('n-retried');
  await sandbox.fault({
    api: 'sync',
    status: 503,
    method: 'POST',
    path: `/Documents/notification-${notificationId}`,
    count: 2,
  });
  const params = { userId: uid('retried'), phone: PHONE, message: 'm', channel: 'sms', notificationId };
  const res = await notify(params);
  expect(res.body.status).toBe('sent');
  expect((await record(notificationId)).state).toBe('done');
  expect((await notify(params)).body.status).toBe('duplicate');
});

test('a record left in_progress by a failed final write is completed by the next callback', async () => {
  const userId = uid('stuck');
  const notificationId = uid('n-stuck');
  const path = `/Documents/notification-${notificationId}`;
  await sandbox.fault({ api: 'sync', status: 503, method: 'POST', path, count: 1000 });
  const res = await notify({ userId, phone: PHONE, message: 'm', channel: 'sms', notificationId });
  expect(res.body.status).toBe('sent');
  await sandbox.fault({ api: 'sync', status: 503, count: 0 }); // Sync is back
  expect((await record(notificationId)).state).toBe('in_progress');
  // once /notify's invocation is surely over (Twilio ends it at 10 s), its callback completes the record
  await new Promise((r) => setTimeout(r, 11_500));
  const query = `?notificationId=${notificationId}&userId=${userId}&channel=SMS`;
  const cb = await signedPost(`/sms/status${query}`, { MessageSid: res.body.providerId, MessageStatus: 'delivered' });
  expect(cb.status).toBe(200);
  const r = await record(notificationId);
  expect(r).toMatchObject({ state: 'done', reason: 'recovered' });
  expect(r.steps).toEqual([
    expect.objectContaining({ channel: 'SMS', status: 'DELIVERED', providerId: res.body.providerId }),
  ]);
  const again = await notify({ userId, phone: PHONE, message: 'm', channel: 'sms', notificationId });
  expect(again.body).toMatchObject({ status: 'duplicate', providerId: res.body.providerId });
  expect((await sandbox.messages()).length).toBe(1);
}, 30_000);

test('escalateAfter=15, the documented minimum, schedules the SMS step', async () => {
  const res = await notify({
    userId: uid('min'),
    phone: PHONE,
    email: EMAIL,
    message: 'm',
    escalation: 'email,sms',
    escalateAfter: 15,
  });
  expect(res.status).toBe(200);
  expect(res.body.steps.map((s: { channel: string; status: string }) => [s.channel, s.status])).toEqual([
    ['EMAIL', 'SENT'],
    ['SMS', 'SCHEDULED'],
  ]);
});

describe('work kept during an outage is completed by recovery, not by a retry the sender never makes', () => {
  const recover = () => call('POST', '/recover', { headers: bearer, json: {} });
  const eventsOf = async (userId: string) =>
    (await sandbox.events({ userId, type: 'track' })).map((e) => e.event as string);

  test('an SMS reply during a Segment blip is answered 200 and reaches Segment after recovery', async () => {
    const userId = uid('blip');
    const res = await notify({ userId, phone: PHONE, message: 'm', channel: 'sms' });
    await sandbox.fault({ api: 'segment', status: 503, count: 20 });
    const reply = { MessageSid: `SM${'7'.repeat(32)}`, From: PHONE, To: '+15005550006', Body: 'はい' };
    const inbound = await signedPost('/sms/inbound', reply);
    expect(inbound.status).toBe(200); // Twilio would not retry a 503 here
    expect(await eventsOf(userId)).toEqual(['Notification Sent']);
    await sandbox.fault({ api: 'segment', status: 503, count: 0 }); // Segment is back
    const report = (await recover()).body;
    // Replied, Engaged, and the identify of what was learned (channel_scores, best_channel)
    expect(report).toMatchObject({ delivered: 3, remaining: 0 });
    expect(await eventsOf(userId)).toEqual(['Notification Sent', 'Notification Replied', 'Notification Engaged']);
    // what was learned from the reply was kept with it, not dropped with the failed batch
    // (which channel is best depends on the shared stack's population prior, which other tests move:
    // only that the identify was kept and carries the scores is this test's to check)
    const learned = (await sandbox.events({ userId, type: 'identify' })).filter((e) => e.traits?.best_channel);
    expect(learned).toHaveLength(1);
    expect(Object.keys(learned[0].traits?.channel_scores ?? {})).toContain('SMS');
    // every channel the service knows: the shared prior can rate WhatsApp best after the WhatsApp tests
    expect(CHANNELS).toContain(learned[0].traits?.best_channel);
    expect((await record(res.body.notificationId)).state).toBe('completed');
    expect((await recover()).body).toMatchObject({ notifications: 0, delivered: 0 });
  });

  test("a reply's failed SendGrid cancel is retried before the send time: the email never goes out", async () => {
    const userId = uid('cancel-kept');
    const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'sms,email' });
    expect(res.body.steps.map((s: { status: string }) => s.status)).toEqual(['SENT', 'SCHEDULED']);
    await sandbox.fault({ api: 'sendgrid', status: 503, method: 'POST', path: '/v3/user/scheduled_sends', count: 20 });
    const reply = { MessageSid: `SM${'8'.repeat(32)}`, From: PHONE, To: '+15005550006', Body: 'OK' };
    expect((await signedPost('/sms/inbound', reply)).status).toBe(200);
    expect((await record(res.body.notificationId)).steps.map((s: { status: string }) => s.status)).toEqual([
      'COMPLETED',
      'CANCELED',
    ]);
    await sandbox.fault({ api: 'sendgrid', status: 503, count: 0 });
    expect((await recover()).body).toMatchObject({ canceled: 1, cancelFailed: 0, remaining: 0 });
    await sandbox.advance(2 * 3600);
    expect((await sandbox.emails())[0].resource.status).toBe('canceled');
    expect(await eventsOf(userId)).not.toContain('Notification Delivered');
  });

  test("an escalation whose send fails after cancelling the step's scheduled copy is sent by recovery", async () => {
    const userId = uid('escalation-kept');
    const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'call,sms,email' });
    const id = res.body.notificationId;
    const [c] = await sandbox.calls();
    // Twilio refuses new messages for a while (the scheduled copy's cancel still goes through)
    await sandbox.fault({ api: 'twilio', status: 503, method: 'POST', path: 'Messages.json', count: 1000 });
    const query = new URL(c.request.StatusCallback).search;
    const busy = await signedPost(`/voice/status${query}`, {
      CallSid: c.resource.sid,
      CallStatus: 'busy',
      CallDuration: '0',
    });
    expect(busy.status).toBe(503);
    expect((await sandbox.messages()).map((m: any) => m.resource.status)).toEqual(['canceled']);
    expect((await record(id)).steps[1]).toMatchObject({ channel: 'SMS', status: 'SCHEDULED', escalatedFrom: 'CALL' });
    await sandbox.fault({ api: 'twilio', status: 503, count: 0 });
    // a claim is left to its own invocation for 30 s; recovery takes over an older one
    expect((await recover()).body).toMatchObject({ escalated: 0, remaining: 1 });
    await sandbox.advance(60);
    // two sweeps at once (two warm containers): one takes the claim over and sends, the other leaves it
    const sweeps = await Promise.all([recover(), recover()]);
    expect(sweeps.map((x) => x.body.escalated).sort()).toEqual([0, 1]);
    const messages = await sandbox.messages();
    expect(messages.map((m: any) => [m.request.ScheduleType ?? 'now', m.resource.status])).toEqual([
      ['fixed', 'canceled'],
      ['now', 'accepted'],
    ]);
    const sms = (await record(id)).steps[1];
    expect(sms).toMatchObject({ status: 'SENT', providerId: messages[1].resource.sid });
    expect(await eventsOf(userId)).toEqual(expect.arrayContaining(['Notification Escalated', 'Notification Sent']));
    expect((await recover()).body).toMatchObject({ notifications: 0, remaining: 0 });
  });

  test('a cancel that cannot be made before the send time is reported as Notification Cancel Failed', async () => {
    const userId = uid('cancel-late');
    const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'sms,email' });
    await sandbox.fault({
      api: 'sendgrid',
      status: 503,
      method: 'POST',
      path: '/v3/user/scheduled_sends',
      count: 1000,
    });
    const reply = { MessageSid: `SM${'9'.repeat(32)}`, From: PHONE, To: '+15005550006', Body: 'OK' };
    expect((await signedPost('/sms/inbound', reply)).status).toBe(200);
    // still failing, before the deadline: kept
    expect((await recover()).body).toMatchObject({ canceled: 0, cancelFailed: 0, remaining: 1 });
    expect(await eventsOf(userId)).not.toContain('Notification Cancel Failed');
    expect(res.body.steps[1].scheduledAt).toEqual(expect.any(String));
    // the send time passes (one clock: the functions see the sandbox's) with the cancel still failing
    await sandbox.advance(2 * 3600);
    expect((await recover()).body).toMatchObject({ cancelFailed: 1, remaining: 0 });
    expect(await eventsOf(userId)).toContain('Notification Cancel Failed');
    const email = (await record(res.body.notificationId)).steps.find((s: { channel: string }) => s.channel === 'EMAIL');
    expect(email.error).toBe('the scheduled copy could not be cancelled before its send time');
  });

  describe('a later step its provider could not schedule during /notify is scheduled by recovery', () => {
    const stepsOf = (steps: Array<{ channel: string; status: string }>) => steps.map((s) => [s.channel, s.status]);

    test('SendGrid down past the retries: the email step waits PENDING, then is scheduled for its time', async () => {
      const userId = uid('kept-email');
      await sandbox.fault({ api: 'sendgrid', status: 503, count: 1000 });
      const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'sms,email' });
      await sandbox.fault({ api: 'sendgrid', status: 503, count: 0 });
      expect(res.status).toBe(200);
      expect(stepsOf(res.body.steps)).toEqual([
        ['SMS', 'SENT'],
        ['EMAIL', 'PENDING'],
      ]);
      expect(res.body.steps[1].error).toMatch(/^not scheduled yet: /);
      expect(await sandbox.emails()).toEqual([]);
      expect((await recover()).body).toMatchObject({ scheduled: 1, remaining: 0 });
      const [email] = await sandbox.emails();
      const step = (await record(res.body.notificationId)).steps[1];
      expect(step).toMatchObject({ status: 'SCHEDULED', error: null, providerId: expect.any(String) });
      expect(email.request.send_at).toBe(Math.floor(Date.parse(res.body.steps[1].scheduledAt) / 1000));
      expect((await recover()).body).toMatchObject({ notifications: 0, scheduled: 0, remaining: 0 });
    });

    /** an SMS step (escalateAfter 15, the least Message Scheduling allows) kept during a Twilio outage */
    const keptSms = async (prefix: string) => {
      await sandbox.fault({ api: 'twilio', status: 503, method: 'POST', path: 'Messages.json', count: 1000 });
      const res = await notify({
        userId: uid(prefix),
        phone: PHONE,
        email: EMAIL,
        message: 'm',
        escalation: 'email,sms',
        escalateAfter: 15,
      });
      expect(stepsOf(res.body.steps)).toEqual([
        ['EMAIL', 'SENT'],
        ['SMS', 'PENDING'],
      ]);
      return res.body;
    };
    const clock = async () => Date.parse((await sandbox.status()).clock);

    test('an SMS step whose 15 minutes of notice ran out is scheduled as soon as Twilio allows, and says when', async () => {
      const answer = await keptSms('kept-sms-late');
      // Twilio is back 5 minutes on: 10 minutes before the step's time, too late to schedule it then
      await sandbox.advance(5 * 60);
      await sandbox.fault({ api: 'twilio', status: 503, count: 0 });
      const sweptAt = await clock();
      expect((await recover()).body).toMatchObject({ scheduled: 1, remaining: 0 });
      const [m] = await sandbox.messages();
      expect(m.request.ScheduleType).toBe('fixed');
      const sendAt = Date.parse(m.request.SendAt);
      expect(sendAt - sweptAt).toBeGreaterThan(15 * 60_000);
      expect(sendAt - sweptAt).toBeLessThan(18 * 60_000);
      const step = (await record(answer.notificationId)).steps[1];
      expect(step).toMatchObject({ status: 'SCHEDULED', providerId: m.resource.sid, error: null });
      expect(Date.parse(step.scheduledAt)).toBe(sendAt);
    });

    test('an SMS step swept only after its time is sent then', async () => {
      const answer = await keptSms('kept-sms-due');
      await sandbox.advance(16 * 60);
      await sandbox.fault({ api: 'twilio', status: 503, count: 0 });
      expect((await recover()).body).toMatchObject({ scheduled: 1, remaining: 0 });
      const messages = await sandbox.messages();
      expect(messages.map((m: any) => m.request.ScheduleType ?? 'now')).toEqual(['now']);
      expect((await record(answer.notificationId)).steps[1]).toMatchObject({
        status: expect.stringMatching(/^(SCHEDULED|SENT|DELIVERED)$/),
        providerId: messages[0].resource.sid,
      });
    });

    test('a journey completed before recovery sends nothing more', async () => {
      const userId = uid('kept-done');
      await sandbox.fault({ api: 'sendgrid', status: 503, count: 1000 });
      const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'sms,email' });
      await sandbox.fault({ api: 'sendgrid', status: 503, count: 0 });
      expect(res.body.steps[1].status).toBe('PENDING');
      const reply = { MessageSid: `SM${'6'.repeat(32)}`, From: PHONE, To: '+15005550006', Body: 'OK' };
      expect((await signedPost('/sms/inbound', reply)).status).toBe(200);
      expect((await recover()).body).toMatchObject({ scheduled: 0, remaining: 0 });
      expect(stepsOf((await record(res.body.notificationId)).steps)).toEqual([
        ['SMS', 'COMPLETED'],
        ['EMAIL', 'CANCELED'],
      ]);
      await sandbox.advance(2 * 3600);
      expect(await sandbox.emails()).toEqual([]);
    });
  });
});
