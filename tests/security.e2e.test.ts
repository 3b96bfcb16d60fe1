/**
 * Security review findings (issue 18), each closed with a test through the
 * running functions: no environment value turns a signature check off, the
 * signed URL never comes from the request's headers, a Twilio signature in
 * place of the API key covers only what it signs and cannot send twice,
 * authentication comes before any work (a recovery sweep, a configuration
 * error's details), and the endpoints that act refuse a GET.
 */
import twilio from 'twilio';
import { AUTH_TOKEN, bearer, call, emailEvents, notify, ownStack, sandbox, signedPost, stack } from './helpers';

const PHONE = '+819012345678';
const uid = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

beforeEach(() => sandbox.reset(false));

describe('no value the environment can set turns a webhook check off', () => {
  let c: Awaited<ReturnType<typeof ownStack>>;
  beforeAll(async () => {
    // what used to mean "on Twilio's runtime, already checked": twilio-run builds the context from .env
    c = await ownStack(() => ({ DOMAIN_NAME: 'victim.twil.io', RECOVERY_SWEEP_SECONDS: '0' }));
  }, 90_000);
  afterAll(() => c?.stop());

  test.each([
    ['/sms/inbound', { From: PHONE, To: '+15005550006', Body: 'STOP', MessageSid: 'SM1' }],
    ['/sms/status', { MessageSid: 'SM1', MessageStatus: 'delivered' }],
    ['/voice/gather', { CallSid: 'CA1', Digits: '1' }],
  ])('an unsigned %s is refused with DOMAIN_NAME=victim.twil.io', async (path, fields) => {
    const res = await c.call('POST', path, { form: fields });
    expect(res.status).toBe(403);
    expect(await c.sandbox.events()).toEqual([]);
    // a genuinely signed one passes the check (and is then judged on its fields)
    expect((await c.signedPost(path, fields)).status).not.toBe(403);
  });
});

test("the signed URL never comes from the request's headers: X-Forwarded-Host cannot make a signature for another URL verify", async () => {
  const fields = { From: PHONE, To: '+15005550006', Body: 'STOP', MessageSid: 'SM2' };
  const evil = 'https://attacker.example';
  const signature = twilio.getExpectedTwilioSignature(AUTH_TOKEN, `${evil}/sms/inbound`, fields);
  const res = await call('POST', '/sms/inbound', {
    form: fields,
    headers: { 'X-Twilio-Signature': signature, 'X-Forwarded-Host': 'attacker.example', 'X-Forwarded-Proto': 'https' },
  });
  expect(res.status).toBe(403);
  expect(await sandbox.events()).toEqual([]);
});

describe('a Twilio signature in place of the API key', () => {
  const fields = () => ({
    userId: uid('sig'),
    phone: PHONE,
    message: 'x',
    channel: 'sms',
    notificationId: uid('sig-n'),
  });

  test('covers form fields only: a signed call replayed as JSON with added flags is refused, nothing sent', async () => {
    const f = fields();
    const signature = twilio.getExpectedTwilioSignature(AUTH_TOKEN, `${stack.functionsUrl}/notify`, f);
    const res = await call('POST', '/notify', {
      json: { ...f, urgent: true, escalation: ['call', 'sms', 'email'], escalateAfter: 15 },
      headers: { 'X-Twilio-Signature': signature },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.field).toBe('urgent');
    expect(await sandbox.messages()).toHaveLength(0);
    expect(await sandbox.calls()).toHaveLength(0);
  });

  test('requires notificationId, so that a replay is a duplicate, never a second send', async () => {
    const { notificationId: _n, ...noId } = fields();
    const missing = await signedPost('/notify', noId);
    expect(missing.status).toBe(400);
    expect(missing.body.error.field).toBe('notificationId');
    const f = fields();
    expect((await signedPost('/notify', f)).body.status).toBe('sent');
    expect((await signedPost('/notify', f)).body.status).toBe('duplicate');
    expect(await sandbox.messages()).toHaveLength(1);
  });
});

describe('authentication comes first', () => {
  let c: Awaited<ReturnType<typeof ownStack>>;
  beforeAll(async () => {
    c = await ownStack(() => ({ RECOVERY_SWEEP_SECONDS: '1' }));
  }, 90_000);
  afterAll(() => c?.stop());

  test('an unauthenticated POST to any endpoint starts no recovery sweep and touches nothing upstream', async () => {
    await c.sandbox.reset(false);
    await new Promise((r) => setTimeout(r, 1100)); // a sweep would be due
    for (const path of ['/email/events', '/notify', '/cancel', '/recover', '/sms/status'])
      expect((await c.call('POST', path, { json: [{ event: 'open' }] })).status).toBeGreaterThanOrEqual(401);
    expect(await c.sandbox.requests()).toEqual({});
  });

  test('a configuration error is a generic 500 to the caller; the log has what to fix', async () => {
    const broken = await ownStack(() => ({ DEFAULT_TIMEZONE: 'Mars/Olympus' }));
    try {
      const res = await broken.call('POST', '/notify', { json: { userId: 'u', message: 'x' }, headers: bearer });
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('misconfigured');
      expect(res.text).not.toContain('DEFAULT_TIMEZONE');
      expect(res.text).not.toContain('Mars');
    } finally {
      await broken.stop();
    }
  }, 90_000);
});

test.each(['/notify', '/cancel', '/recover'])(
  '%s answers 405 to a GET (its query string would land in access logs)',
  async (path) => {
    const res = await call('GET', `${path}?userId=u&phone=${encodeURIComponent(PHONE)}&message=x&notificationId=n`, {
      headers: bearer,
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await sandbox.messages()).toHaveLength(0);
    expect((await notify({ userId: 'u', phone: PHONE, message: 'x', channel: 'sms' })).status).toBe(200);
  },
);

test('a notificationId reused for a different request is 409 conflict naming it; the same request again is a duplicate', async () => {
  const notificationId = uid('reuse');
  const request = { userId: uid('r'), phone: PHONE, message: '明日10時', channel: 'sms', notificationId };
  expect((await notify(request)).body.status).toBe('sent');
  expect((await notify(request)).body.status).toBe('duplicate');
  for (const other of [
    { message: '明日11時' },
    { phone: '+819011112222' },
    { channel: 'email', email: 'x@example.jp' },
  ]) {
    const res = await notify({ ...request, ...other });
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'conflict', field: 'notificationId' });
  }
  expect(await sandbox.messages()).toHaveLength(1);
});

describe('SendGrid recipient names and errors', () => {
  test('"Suzuki, Taro" arrives: commas, semicolons and control characters are removed from the name SendGrid gets', async () => {
    await sandbox.reset(true);
    const res = await notify({
      userId: uid('name'),
      email: 'suzuki@example.jp',
      firstName: 'Suzuki,',
      lastName: 'Taro;\t', // a tab passes the input check (XML can carry it); a header cannot
      message: 'x',
      channel: 'email',
    });
    expect(res.status).toBe(200);
    await sandbox.settle();
    const [mail] = await sandbox.emails();
    expect(mail.request.personalizations[0].to[0]).toEqual({ email: 'suzuki@example.jp', name: 'Suzuki Taro' });
    const sent = await sandbox.events({ type: 'track', event: 'Notification Delivered' });
    expect(sent.map((e) => e.properties?.notification_id)).toEqual([res.body.notificationId]);
    expect(await sandbox.events({ type: 'track', event: 'Notification Failed' })).toEqual([]);
  });

  const mailError = (field: string) => ({
    api: 'sendgrid',
    status: 400,
    path: '/v3/mail/send',
    body: { errors: [{ message: 'rejected', field, help: null }] },
  });

  test('an error on a personalization that is not the address never marks the address invalid', async () => {
    await sandbox.fault(mailError('personalizations.0.subject'));
    const userId = uid('subj');
    const res = await notify({ userId, email: 'ok@example.jp', message: 'x', channel: 'email' });
    expect(res.status).toBe(502);
    const identifies = await sandbox.events({ type: 'identify', userId });
    expect(identifies.filter((e) => e.traits?.invalid_email !== undefined)).toEqual([]);
  });

  test("an error on the recipient's address marks it invalid and falls back", async () => {
    await sandbox.fault(mailError('personalizations.0.to.0.email'));
    const userId = uid('addr');
    const res = await notify({ userId, email: 'gone@example.jp', phone: PHONE, message: 'x', escalation: 'email,sms' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ channel: 'SMS', reason: 'fallback' });
    const identifies = await sandbox.events({ type: 'identify', userId });
    expect(identifies.some((e) => e.traits?.invalid_email === 'gone@example.jp')).toBe(true);
  });
});

describe('SendGrid events are not trusted further than they deserve', () => {
  const post = (events: unknown[]) => emailEvents(events);

  test('ids that /notify could never have sent are skipped and counted, not used', async () => {
    const res = await post([
      { event: 'open', sg_event_id: 'i1', notification_id: '../../etc', user_id: 'u' },
      { event: 'open', sg_event_id: 'i2', notification_id: 'n-ok', user_id: 'x'.repeat(65) },
      { event: 'open', sg_event_id: 'i3', notification_id: 'n ok', user_id: 'u' },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.skipped.invalid).toBe(3);
    expect(await sandbox.events()).toEqual([]);
  });

  test('a timestamp like 1e300 (or a string) is no date, never a 500 that SendGrid would retry for 24 h', async () => {
    const res = await post([
      { event: 'delivered', sg_event_id: 't1', notification_id: 'n-t', user_id: 'u-t', timestamp: 1e300 },
      { event: 'delivered', sg_event_id: 't2', notification_id: 'n-t', user_id: 'u-t', timestamp: '2026' },
      { event: 'delivered', sg_event_id: 't3', notification_id: 'n-t', user_id: 'u-t', timestamp: -5 },
    ]);
    expect(res.status).toBe(200);
    const delivered = await sandbox.events({ type: 'track', event: 'Notification Delivered' });
    expect(delivered).toHaveLength(3);
    for (const e of delivered) expect((e as { timestamp?: string }).timestamp).toBeUndefined();
  });

  test("one event over Segment's 32 KB (a very long click URL) is cut, not allowed to fail its batch", async () => {
    const res = await post([
      {
        event: 'click',
        sg_event_id: 'c1',
        notification_id: 'n-c',
        user_id: 'u-c',
        url: `https://example.com/?q=${'x'.repeat(40_000)}`,
      },
      { event: 'delivered', sg_event_id: 'c2', notification_id: 'n-c2', user_id: 'u-c2' },
    ]);
    expect(res.status).toBe(200);
    const [clicked] = await sandbox.events({ type: 'track', event: 'Notification Clicked' });
    expect(clicked.properties?.url.length).toBeLessThanOrEqual(2049);
    expect(await sandbox.events({ type: 'track', event: 'Notification Delivered' })).toHaveLength(1);
    expect(await sandbox.rejected()).toEqual([]);
  });
});

describe('characters XML cannot carry, and calls whose TwiML would be too long', () => {
  test.each([
    ['NUL', 'a\u0000b'],
    ['another C0 control', 'a\u0001b'],
    ['U+FFFF', 'a\uFFFFb'],
    ['a lone surrogate', 'a\uD800b'],
  ])('a message with %s is a 400 naming it, before anything is sent', async (_what, message) => {
    const res = await notify({ userId: uid('xml'), phone: PHONE, message, channel: 'call' });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_character', field: 'message' });
    expect(await sandbox.calls()).toHaveLength(0);
  });

  test('a call whose TwiML would pass 4,000 characters is never attempted: refused when asked for, another channel when routed', async () => {
    const message = '&'.repeat(1000); // 5,000 characters once escaped for XML
    const asked = await notify({ userId: uid('long'), phone: PHONE, message, channel: 'call' });
    expect(asked.status).toBe(422);
    expect(asked.body.error.code).toBe('channel_refused');
    const routed = await notify({ userId: uid('long'), phone: PHONE, message, escalation: 'call,sms' });
    expect(routed.status).toBe(200);
    expect(routed.body).toMatchObject({ channel: 'SMS', reason: 'fallback' });
    expect(await sandbox.calls()).toHaveLength(0);
  });
});

test("an SMS reply's text goes to Segment only when TRACK_REPLY_TEXT turns it on (off by default)", async () => {
  const { inboundSmsEvents } = await import('../src/lib/channels/sms');
  const m = { sid: `SM${'1'.repeat(32)}`, channel: 'SMS' as const, from: PHONE, body: '住所は東京都…' };
  const contact = { userId: 'u', notificationId: 'n' };
  expect(inboundSmsEvents(m, contact, { identityKey: 'k' })[0].details).toEqual({});
  expect(inboundSmsEvents(m, contact, { replyText: true, identityKey: 'k' })[0].details).toEqual({
    reply: '住所は東京都…',
  });
  // through the running webhook, default settings
  const userId = uid('reply');
  await notify({ userId, phone: PHONE, message: 'x', channel: 'sms', notificationId: uid('reply-n') });
  const reply = { MessageSid: `SM${'2'.repeat(32)}`, From: PHONE, To: '+15005550006', Body: '住所は東京都…' };
  expect((await signedPost('/sms/inbound', reply)).status).toBe(200);
  const [replied] = await sandbox.events({ type: 'track', event: 'Notification Replied' });
  expect(replied.userId).toBe(userId);
  expect(JSON.stringify(replied)).not.toContain('東京都');
});

describe('no phone number in Sync names', () => {
  test('contact documents are named by a keyed hash: the number appears in no document name', async () => {
    const phone = '+819087654321';
    await notify({ userId: uid('c'), phone, message: 'x', channel: 'sms' });
    const names = (await sandbox.documents()).map((d: { unique_name: string }) => d.unique_name);
    expect(names.some((n: string) => n.startsWith('contact-h-'))).toBe(true);
    expect(names.filter((n: string) => n.includes('9087654321'))).toEqual([]);
  });

  test('a contact written under the number before is still found, and moved to its hashed name on first read', async () => {
    const phone = '+819011223344';
    const userId = uid('legacy');
    const notificationId = uid('legacy-n');
    await notify({ userId, phone, message: 'x', channel: 'sms', notificationId });
    // as an earlier version left it: under the number's digits, and no hashed one
    const docs = await sandbox.documents();
    const hashed = docs.find((d: { unique_name: string }) => d.unique_name.startsWith('contact-h-'));
    await sandbox.reset(false);
    await sandbox.syncDocument('contact-819011223344', hashed.data);
    const reply = { MessageSid: `SM${'3'.repeat(32)}`, From: phone, To: '+15005550006', Body: 'はい' };
    expect((await signedPost('/sms/inbound', reply)).status).toBe(200);
    const [replied] = await sandbox.events({ type: 'track', event: 'Notification Replied' });
    expect(replied).toMatchObject({ userId, properties: { notification_id: notificationId } });
    const names = (await sandbox.documents()).map((d: { unique_name: string }) => d.unique_name);
    expect(names).not.toContain('contact-819011223344');
    expect(names.some((n: string) => n.startsWith('contact-h-'))).toBe(true);
  });
});

test("a SendGrid event naming another user than its notification's record is skipped and counted: no step, no Segment event, no evidence", async () => {
  const owner = uid('owner');
  const sent = await notify({ userId: owner, email: 'owner@example.jp', message: 'x', channel: 'email' });
  const id = sent.body.notificationId;
  const forged = {
    event: 'open',
    sg_machine_open: false,
    sg_event_id: uid('f'),
    notification_id: id,
    user_id: 'someone-else',
  };
  // bound to someone-else (as if the binding's key had leaked): the record still decides
  const res = await emailEvents([forged]);
  expect(res.status).toBe(200);
  expect(res.body.skipped.mismatched).toBe(1);
  expect(await sandbox.events({ type: 'track' })).toEqual(
    expect.not.arrayContaining([expect.objectContaining({ userId: 'someone-else' })]),
  );
  const record = (await sandbox.documents()).find(
    (d: { unique_name: string }) => d.unique_name === `notification-${id}`,
  );
  expect(record.data.steps[0].status).not.toBe('COMPLETED');
  // the learner's evidence (kept under either routing policy) credits nobody for it
  const evidenceName = (u: string) =>
    `evidence-${require('node:crypto').createHash('sha256').update(u).digest('hex').slice(0, 40)}`;
  const docs = (await sandbox.documents()).map((d: { unique_name: string }) => d.unique_name);
  expect(docs).not.toContain(evidenceName('someone-else'));
  // the genuine one counts
  const genuine = { ...forged, sg_event_id: uid('g'), user_id: owner };
  expect((await emailEvents([genuine])).body.skipped.mismatched).toBe(0);
  expect((await sandbox.events({ type: 'track', event: 'Notification Engaged' })).map((e) => e.userId)).toEqual([
    owner,
  ]);
});

test('a maximal escalation kept during a Segment outage stays one Sync document (16 KiB), and nothing it kept is lost', async () => {
  const { MAX_JOURNEY_CONTENT_BYTES } = await import('../src/lib/app/notify/input');
  const userId = uid('max');
  const base = {
    userId,
    phone: PHONE,
    email: 'maximal.recipient@example.jp',
    message: 'あ'.repeat(1600),
    subject: 'い'.repeat(255),
    firstName: 'う'.repeat(100),
    lastName: 'え'.repeat(100),
    locale: 'ja-JP',
    escalation: 'call,sms,email',
    escalateAfter: 15,
  };
  // the html that fills the budget exactly, as /notify counts it (content, addresses, quiet hours)
  const content = {
    message: base.message,
    locale: 'ja-JP',
    subject: base.subject,
    html: '',
    firstName: base.firstName,
    lastName: base.lastName,
  };
  const used = Buffer.byteLength(JSON.stringify([content, PHONE, base.email, undefined]));
  const html = 'h'.repeat(MAX_JOURNEY_CONTENT_BYTES - used);
  const over = await notify({ ...base, html: `${html}h`, notificationId: uid('max-over') });
  expect(over.status).toBe(400);
  expect(over.body.error.field).toBe('html');

  await sandbox.fault({ api: 'segment', status: 503, count: 100_000 });
  const res = await notify({ ...base, html, notificationId: uid('max-n') });
  expect(res.status).toBe(200);
  expect(res.body.tracking).toBe('deferred');
  const docs: Array<{ unique_name: string; data: unknown }> = await sandbox.documents();
  const record = docs.find((d) => d.unique_name === `notification-${res.body.notificationId}`);
  expect(record).toBeDefined();
  for (const d of docs) expect(Buffer.byteLength(JSON.stringify(d.data))).toBeLessThanOrEqual(16 * 1024);
  // Segment back: recovery delivers what was kept, from the record or a parcel
  await sandbox.fault({ api: 'segment', count: 0 });
  const recovered = await call('POST', '/recover', { headers: bearer, json: {} });
  expect(recovered.status).toBe(200);
  const names = (await sandbox.events({ userId })).map((e) => e.event ?? e.type);
  expect(names).toEqual(expect.arrayContaining(['Notification Sent', 'Notification Scheduled']));
  const left = (await sandbox.documents()).filter((d: { unique_name: string; data: any }) =>
    d.unique_name.startsWith('outbox-') ? Object.keys(d.data.ids).length > 0 : d.unique_name.startsWith('parcel-'),
  );
  expect(left).toEqual([]);
});
