/**
 * Trust: every endpoint authenticated (forged and replayed requests), exactly
 * one send per notificationId, and graceful failure through injected faults.
 */
import twilio from 'twilio';
import { SANDBOX_DEFAULTS } from '../sandbox/settings';
import {
  API_KEY,
  AUTH_TOKEN,
  bearer,
  call,
  emailEvents,
  eventNames,
  notify,
  sandbox,
  signedPost,
  stack,
} from './helpers';

const PHONE = '+819012345678';
const EMAIL = 'jiro@example.jp';
let seq = 0;
const uid = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${seq++}`;
const SMS_SID = `SM${'1'.repeat(32)}`;
const CALL_SID = `CA${'2'.repeat(32)}`;
const ctx = '?notificationId=n-forged&userId=u-forged&channel=SMS';

beforeEach(() => sandbox.reset(false));

describe('Twilio webhooks reject forged requests and track nothing', () => {
  const cases: Array<[string, Record<string, string>]> = [
    [`/sms/status${ctx}`, { MessageSid: SMS_SID, MessageStatus: 'delivered' }],
    ['/sms/inbound', { MessageSid: SMS_SID, From: PHONE, To: '+15005550006', Body: 'STOP', OptOutType: 'STOP' }],
    [`/voice/status${ctx.replace('SMS', 'CALL')}`, { CallSid: CALL_SID, CallStatus: 'in-progress' }],
    [`/voice/gather${ctx.replace('SMS', 'CALL')}`, { CallSid: CALL_SID, Digits: '1' }],
  ];

  test.each(cases)('%s', async (path, fields) => {
    const sign = (url: string, params: Record<string, string>, token: string = AUTH_TOKEN) =>
      twilio.getExpectedTwilioSignature(token, `${stack.functionsUrl}${url}`, params);
    const attempts: Array<Record<string, string>> = [
      {}, // no signature
      { 'X-Twilio-Signature': sign(path, fields, 'another-auth-token') }, // signed with the wrong token
      { 'X-Twilio-Signature': sign(path, { ...fields, Body: 'tampered' }) }, // signed for other fields
      { 'X-Twilio-Signature': sign(`/elsewhere${path}`, fields) }, // signed for another URL
    ];
    for (const headers of attempts) {
      const res = await call('POST', path, { form: fields, headers });
      expect(res.status).toBe(403);
      expect(res.text).not.toMatch(/at \w+ \(/);
    }
    expect(await sandbox.events()).toEqual([]);
    expect((await sandbox.requests()).segment ?? 0).toBe(0);
  });

  test('a replayed genuine webhook changes nothing the second time', async () => {
    const userId = uid('replay');
    const res = await notify({ userId, phone: PHONE, message: 'm', channel: 'sms' });
    const reply = { MessageSid: `SM${'3'.repeat(32)}`, From: PHONE, To: '+15005550006', Body: 'OK' };
    await signedPost('/sms/inbound', reply);
    await signedPost('/sms/inbound', reply);
    expect(await eventNames({ userId })).toEqual(['Notification Sent', 'Notification Replied', 'Notification Engaged']);
    const dropped = (await sandbox.rejected()).map((r) => r.payload.messageId).sort();
    expect(dropped).toEqual(
      [
        `engaged:${res.body.notificationId}:SMS`,
        `identify-learned:sms-reply:${reply.MessageSid}`, // what was learned, identified once
        `sms-reply:${reply.MessageSid}`,
      ].sort(),
    );
  });
});

describe('signatures over the URL with its connection-override fragment', () => {
  // Twilio signs "the exact URL your application supplied"; whether #rc=… is part of it is undocumented.
  test.each([
    ['without the fragment', ''],
    ['with the fragment', '#rc=3&rp=5xx,ct,rt'],
  ])('a status callback signed %s is accepted; a forged one still is not', async (_label, fragment) => {
    const userId = uid('fragment');
    const res = await notify({ userId, phone: PHONE, message: 'm', channel: 'sms' });
    const path = `/sms/status?notificationId=${res.body.notificationId}&userId=${userId}&channel=SMS`;
    const fields = { MessageSid: res.body.providerId, MessageStatus: 'delivered' };
    const sign = (token: string) =>
      twilio.getExpectedTwilioSignature(token, `${stack.functionsUrl}${path}${fragment}`, fields);
    const forged = await call('POST', path, { form: fields, headers: { 'X-Twilio-Signature': sign('wrong-token') } });
    expect(forged.status).toBe(403);
    const genuine = await call('POST', path, { form: fields, headers: { 'X-Twilio-Signature': sign(AUTH_TOKEN) } });
    expect(genuine.status).toBe(200);
    expect(await eventNames({ userId })).toEqual(['Notification Sent', 'Notification Delivered']);
  });
});

describe('API endpoints require the Bearer key or a Twilio signature', () => {
  test.each(['/notify', '/channel', '/cancel', '/notification'])('%s', async (path) => {
    const params = { userId: 'u1', phone: PHONE, message: 'm', notificationId: 'n1' };
    expect((await call('POST', path, { json: params })).status).toBe(401);
    expect((await call('POST', path, { json: params, headers: { Authorization: 'Bearer wrong' } })).status).toBe(401);
    expect(
      (
        await call('POST', path, {
          json: params,
          headers: { Authorization: `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}` },
        })
      ).status,
    ).toBe(401);
    const unsigned = await call('POST', path, { form: params, headers: { 'X-Twilio-Signature': 'forged' } });
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.error).toMatchObject({ code: 'unauthorized' });
    expect(await sandbox.messages()).toEqual([]);
  });

  test("Studio's Run Function widget (a Twilio-signed request) may call /notify", async () => {
    const res = await signedPost('/notify', {
      userId: uid('studio'),
      phone: PHONE,
      message: 'from Studio',
      channel: 'sms',
      notificationId: uid('studio-n'),
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('sent');
  });

  test("Studio's Make HTTP Request widget: Basic studio:KEY from its URL, never from a browser", async () => {
    const basic = (user: string, key: string = SANDBOX_DEFAULTS.STUDIO_API_KEY) =>
      `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;
    const params = () => ({
      userId: uid('widget'),
      phone: PHONE,
      message: 'from Studio',
      channel: 'sms',
      notificationId: uid('widget-n'),
    });
    const ok = await call('POST', '/notify', { form: params(), headers: { Authorization: basic('studio') } });
    expect(ok.status).toBe(200);
    // a browser that kept the credentials, on a hostile page's form post: refused
    for (const browser of [
      { Origin: 'https://evil.example' } as Record<string, string>,
      { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' },
    ]) {
      const refused = await call('POST', '/notify', {
        form: params(),
        headers: { Authorization: basic('studio'), ...browser },
      });
      expect(refused.status).toBe(401);
    }
    expect((await call('POST', '/notify', { form: params(), headers: { Authorization: basic('other') } })).status).toBe(
      401,
    );
    // the all-powerful key no longer rides in Studio's URL
    const notifyKey = { Authorization: basic('studio', API_KEY) };
    expect((await call('POST', '/notify', { form: params(), headers: notifyKey })).status).toBe(401);
  });

  test('the SendGrid webhook requires its Basic credentials', async () => {
    const batch = [{ event: 'delivered', sg_event_id: 'e1', notification_id: 'n', user_id: 'u' }];
    expect((await call('POST', '/email/events', { json: batch })).status).toBe(401);
    expect((await emailEvents(batch, 'sendgrid:wrong-password')).status).toBe(401);
    expect((await emailEvents(batch, 'wrong-user:sandbox-webhook-password')).status).toBe(401);
    expect(await sandbox.events()).toEqual([]);
    expect((await emailEvents(batch)).status).toBe(200);
  });
});

describe('exactly once', () => {
  test('two racing /notify with one notificationId send once; the second answers duplicate', async () => {
    const notificationId = uid('once');
    const params = { userId: uid('u'), phone: PHONE, message: 'm', channel: 'sms', notificationId };
    const answers = await Promise.all([notify(params), notify(params), notify(params)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.body.status).sort()).toEqual(['duplicate', 'duplicate', 'sent']);
    expect(new Set(answers.map((a) => a.body.providerId)).size).toBe(1);
    expect(await sandbox.messages()).toHaveLength(1);
    expect((await notify(params)).body).toMatchObject({ status: 'duplicate', providerId: answers[0].body.providerId });
  });
});

describe('failure handling', () => {
  test('Segment failing a status callback → 503, Twilio retries (connection overrides), the event arrives once', async () => {
    const userId = uid('seg-webhook');
    await notify({ userId, phone: PHONE, message: 'm', channel: 'sms' });
    const [m] = await sandbox.messages();
    await sandbox.fault({ api: 'segment', status: 500, count: 2 }); // the webhook's attempt and its one retry
    await sandbox.twilioCallback(m.request.StatusCallback, {
      MessageSid: m.resource.sid,
      MessageStatus: 'delivered',
      To: PHONE,
    });
    const attempts = (await sandbox.callbacks()).filter((c: any) => c.kind === 'replayed').map((c: any) => c.status);
    expect(attempts).toEqual([503, 200]);
    expect(await eventNames({ userId, event: 'Notification Delivered' })).toHaveLength(1);
  });

  test('Segment failing an Event Webhook batch → 503, SendGrid retries, every event arrives once', async () => {
    const userId = uid('seg-mail');
    const sent = await notify({ userId, email: 'mail@example.jp', message: 'm', channel: 'email' });
    const n = sent.body.notificationId;
    await sandbox.fault({ api: 'segment', status: 503, count: 2 });
    await sandbox.emailEvents([
      { event: 'delivered', sg_event_id: 'x1', notification_id: n, user_id: userId },
      { event: 'click', sg_event_id: 'x2', notification_id: n, user_id: userId, url: 'https://x' },
    ]);
    expect((await sandbox.callbacks()).map((c: any) => c.status)).toEqual([503, 200]);
    expect(await eventNames({ userId })).toEqual([
      'Notification Sent',
      'Notification Delivered',
      'Notification Clicked',
      'Notification Engaged',
    ]);
  });

  test('/notify with Segment down sends once, answers tracking: deferred, and the next callback delivers the events', async () => {
    const userId = uid('deferred');
    await sandbox.fault({ api: 'segment', status: 500, count: 2 });
    const res = await notify({ userId, phone: PHONE, message: 'm', channel: 'sms' });
    expect(res.body).toMatchObject({ status: 'sent', tracking: 'deferred' });
    expect(await sandbox.messages()).toHaveLength(1);
    expect(await sandbox.events({ userId })).toEqual([]);
    const [m] = await sandbox.messages();
    await signedPost(`/sms/status${new URL(m.request.StatusCallback).search}`, {
      MessageSid: m.resource.sid,
      MessageStatus: 'delivered',
    });
    expect((await sandbox.events({ userId })).map((e) => e.event ?? e.type)).toEqual([
      'identify',
      'Notification Sent',
      'Notification Delivered',
    ]);
    const doc = (await sandbox.documents()).find(
      (d: any) => d.unique_name === `notification-${res.body.notificationId}`,
    );
    expect(doc.data.deferredEvents).toEqual([]);
  });

  test('a callback whose retries all fail is not lost: the next callback of the notification delivers its events', async () => {
    const userId = uid('all-retries-fail');
    await notify({ userId, phone: PHONE, message: 'm', channel: 'call' });
    const [c] = await sandbox.calls();
    await sandbox.fault({ api: 'segment', status: 500, count: 8 }); // the first attempt and all three retries, each tried twice
    await sandbox.twilioCallback(c.request.StatusCallback, {
      CallSid: c.resource.sid,
      CallStatus: 'in-progress',
      AnsweredBy: 'human',
    });
    expect((await sandbox.callbacks()).map((x: any) => x.status)).toEqual([503, 503, 503, 503]);
    expect(await eventNames({ userId })).toEqual(['Notification Sent']);
    await sandbox.twilioCallback(c.request.StatusCallback, {
      CallSid: c.resource.sid,
      CallStatus: 'completed',
      AnsweredBy: 'human',
      CallDuration: '9',
    });
    expect(await eventNames({ userId })).toEqual([
      'Notification Sent',
      'Notification Answered',
      'Notification Engaged',
      'Notification Delivered',
    ]);
  });

  test('a Segment that hangs cannot hold /notify past its 8 s budget', async () => {
    await sandbox.fault({ api: 'segment', latencyMs: 20_000, count: 2 });
    const started = Date.now();
    const res = await fetch(`${stack.functionsUrl}/notify`, {
      method: 'POST',
      headers: { ...bearer, 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId: uid('slow'), phone: PHONE, message: 'm', channel: 'sms' }),
      signal: AbortSignal.timeout(9500), // Twilio would end the function at 10 s
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { tracking: string }).tracking).toBe('deferred');
    expect(Date.now() - started).toBeLessThan(9500);
  }, 15_000);

  test("Twilio 429 with Retry-After is retried once; a 500 to a send is a 502 with Twilio's code (not sent again) and nothing half-done", async () => {
    await sandbox.fault({
      api: 'twilio',
      status: 429,
      count: 1,
      headers: { 'Retry-After': '1' },
      body: {
        code: 20429,
        message: 'Too Many Requests',
        more_info: 'https://www.twilio.com/docs/errors/20429',
        status: 429,
      },
    });
    expect((await notify({ userId: uid('429'), phone: PHONE, message: 'm', channel: 'sms' })).body.status).toBe('sent');
    expect(await sandbox.messages()).toHaveLength(1);

    const notificationId = uid('n500');
    const params = { userId: uid('500'), phone: PHONE, message: 'm', channel: 'sms', notificationId };
    // a send answered 500 is not sent again (a 5xx does not say whether it went out): a 502 at once
    await sandbox.fault({ api: 'twilio', status: 500, count: 1 });
    const failed = await notify(params);
    expect(failed.status).toBe(502);
    expect(failed.body.error).toMatchObject({ code: 'upstream_error', provider_code: 20500 });
    expect(await sandbox.messages()).toHaveLength(1);
    expect(await sandbox.events({ userId: params.userId })).toEqual([]);
    expect((await notify(params)).body.status).toBe('sent'); // the lock was released: a retry sends
  });

  test('a dropped connection to Twilio is a 502, with nothing sent and the lock released', async () => {
    const params = { userId: uid('drop'), phone: PHONE, message: 'm', channel: 'sms', notificationId: uid('n-drop') };
    await sandbox.fault({ api: 'twilio', drop: true, count: 1 });
    const res = await notify(params);
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe('upstream_error');
    expect(await sandbox.messages()).toEqual([]);
    expect((await notify(params)).body.status).toBe('sent');
  });

  test('a dropped connection to Sync is sent again once; dropped again, the webhook is a 503, so the sender retries', async () => {
    for (const [drops, statuses] of [
      [1, [200]],
      [2, [503, 200]],
    ] as const) {
      await sandbox.reset(false);
      const userId = uid(`sync-drop-${drops}`);
      await notify({ userId, phone: PHONE, message: 'm', channel: 'sms' });
      const [m] = await sandbox.messages();
      // the record's read, dropped once (sent again) or twice (the retry dropped too)
      await sandbox.fault({ api: 'sync', drop: true, count: drops, method: 'GET', path: '/Documents/notification-' });
      await sandbox.twilioCallback(m.request.StatusCallback, {
        MessageSid: m.resource.sid,
        MessageStatus: 'undelivered',
        ErrorCode: '30003',
      });
      expect((await sandbox.callbacks()).map((c: any) => c.status)).toEqual(statuses);
      expect(await eventNames({ userId, event: 'Notification Failed' })).toHaveLength(1);
    }
  });

  test('an opted-out number (21610) falls back to the next channel and is marked unreachable', async () => {
    const userId = uid('optout');
    await sandbox.traits(userId, { preferred_channel: 'SMS' });
    await sandbox.contact(PHONE, { optedOut: true });
    const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm' });
    expect(res.body.reason).toBe('fallback');
    expect(['CALL', 'EMAIL']).toContain(res.body.channel);
    expect(await eventNames({ userId })).toEqual(['Notification Opted Out', 'Notification Sent']);
    const routed = await call('GET', `/channel?userId=${userId}&phone=${encodeURIComponent(PHONE)}&email=${EMAIL}`, {
      headers: bearer,
    });
    expect(routed.body.reachable).toEqual(['CALL', 'EMAIL']);
  });

  test('a number that cannot take SMS (21614) falls back and is remembered for that number only', async () => {
    const userId = uid('landline');
    await sandbox.contact(PHONE, { invalidNumber: true });
    const res = await notify({ userId, phone: PHONE, email: EMAIL, message: 'm', escalation: 'sms,email' });
    expect(res.body).toMatchObject({ channel: 'EMAIL', reason: 'fallback' });
    const traits = (await sandbox.events({ userId, type: 'identify' })).map((e) => e.traits);
    expect(traits).toContainEqual({ sms_incapable_phone: PHONE });
    const other = await call('GET', `/channel?userId=${userId}&phone=${encodeURIComponent('+819011112222')}`, {
      headers: bearer,
    });
    expect(other.body.reachable).toContain('SMS');
  });

  test('a Profile API outage still routes and sends', async () => {
    await sandbox.fault({ api: 'profiles', status: 503, count: 5 });
    const res = await notify({ userId: uid('noprofile'), phone: PHONE, message: 'm' });
    expect(res.status).toBe(200);
    expect(res.body.reason).toBe('random');
  });
});

describe('callbacks that beat the record', () => {
  test('a status callback arriving while /notify is still sending waits for the record, then applies', async () => {
    await sandbox.reset(false);
    const userId = uid('early');
    await sandbox.fault({ api: 'twilio', latencyMs: 1500, count: 1 }); // the lock exists; the call is placed slowly
    const pending = notify({
      userId,
      phone: PHONE,
      email: EMAIL,
      message: 'm',
      escalation: 'call,sms',
      notificationId: `early-${userId}`,
    });
    await new Promise((r) => setTimeout(r, 300));
    const early = await signedPost(`/voice/status?notificationId=early-${userId}&userId=${userId}&channel=CALL`, {
      CallSid: CALL_SID,
      CallStatus: 'busy',
    });
    // it waited within its own budget instead of relying on a retry
    expect(early.status).toBe(200);
    expect((await pending).status).toBe(200);
    const r = (await call('GET', `/notification?notificationId=early-${userId}`, { headers: bearer })).body;
    expect(r.steps.map((s: any) => [s.channel, s.status])).toEqual([
      ['CALL', 'FAILED'],
      ['SMS', 'SENT'],
    ]);
  });
});
