/**
 * The sandbox's rules, exercised through the official clients pointed at it
 * with the base-URL overrides, as the functions use them.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import twilio from 'twilio';
import { mailService, sendgridClient } from '../src/lib/clients/sendgrid';
import { twilioClient } from '../src/lib/clients/twilio';
import { type Config, loadConfig } from '../src/lib/config';
import { sandboxFunctionEnv } from '../sandbox/launch';
import { mostFrequent } from '../sandbox/segment-api';
import { type Sandbox, startSandbox } from '../sandbox/server';
import { SANDBOX_DEFAULTS, settingsFromEnv } from '../sandbox/settings';

interface Received {
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let sb: Sandbox;
let config: Config;
let collector: Server;
let collectorUrl: string;
const received: Received[] = [];

beforeAll(async () => {
  collector = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'text/xml' }).end('<Response/>');
    });
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const address = collector.address() as { port: number };
  collectorUrl = `http://127.0.0.1:${address.port}`;
  sb = await startSandbox({ ...settingsFromEnv({ SANDBOX_FUNCTIONS_URL: collectorUrl }), port: 0 });
  config = loadConfig(sandboxFunctionEnv(sb.url));
});

afterAll(async () => {
  await sb.close();
  await new Promise((r) => collector.close(r));
});

beforeEach(() => {
  sb.state.reset(false);
  received.length = 0;
});

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000);
const MSS = SANDBOX_DEFAULTS.MESSAGING_SERVICE_SID;

async function twilioFailure(
  p: Promise<unknown>,
): Promise<{ status: number; code: number; moreInfo: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { status: number; code: number; moreInfo: string; message: string };
  }
  throw new Error('expected the Twilio call to fail');
}

describe('Twilio Messages', () => {
  test('creates a message with a Message SID and the resource shape of the 2010 API', async () => {
    const m = await twilioClient(config).messages.create({
      to: '+819012345678',
      from: '+15005550006',
      body: 'こんにちは',
    });
    expect(m.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(m.status).toBe('queued');
    expect(m.body).toBe('こんにちは');
    expect(m.accountSid).toBe(SANDBOX_DEFAULTS.ACCOUNT_SID);
    expect(sb.state.messages[0].request).toMatchObject({ To: '+819012345678', From: '+15005550006' });
  });

  test('an invalid To is a Twilio-shaped 21211 error', async () => {
    const err = await twilioFailure(
      twilioClient(config).messages.create({ to: '090-1234', from: '+15005550006', body: 'x' }),
    );
    expect(err.status).toBe(400);
    expect(err.code).toBe(21211);
    expect(err.moreInfo).toBe('https://www.twilio.com/docs/errors/21211');
  });

  test.each([
    [{ From: '+15005550006', Body: 'x' }, 21604],
    [{ To: '+15551234567', Body: 'x' }, 21603],
    [{ To: '+15551234567', From: '+15005550006' }, 21602],
  ])('required parameters: %o fails with %i', async (params, code) => {
    // raw HTTP: the twilio client itself refuses a missing To before sending
    const res = await fetch(`${sb.url}/2010-04-01/Accounts/${config.accountSid}/Messages.json`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code,
      message: expect.any(String),
      more_info: `https://www.twilio.com/docs/errors/${code}`,
      status: 400,
    });
  });

  test('schedules through a Messaging Service 15 minutes to 35 days ahead, and cancels while scheduled', async () => {
    const client = twilioClient(config);
    const m = await client.messages.create({
      to: '+15551234567',
      messagingServiceSid: MSS,
      body: 'later',
      scheduleType: 'fixed',
      sendAt: inMinutes(60),
    });
    expect(m.status).toBe('scheduled');
    expect((await client.messages(m.sid).update({ status: 'canceled' })).status).toBe('canceled');
    const again = await twilioFailure(client.messages(m.sid).update({ status: 'canceled' }));
    expect(again.status).toBe(400);
  });

  test.each([
    ['too soon', 14, 35114],
    ['too far', 36 * 24 * 60, 35114],
  ])('scheduling %s is refused', async (_label, minutes, code) => {
    const err = await twilioFailure(
      twilioClient(config).messages.create({
        to: '+15551234567',
        messagingServiceSid: MSS,
        body: 'x',
        scheduleType: 'fixed',
        sendAt: inMinutes(minutes),
      }),
    );
    expect(err.code).toBe(code);
  });

  test('scheduling needs a Messaging Service (35118)', async () => {
    const err = await twilioFailure(
      twilioClient(config).messages.create({
        to: '+15551234567',
        from: '+15005550006',
        body: 'x',
        scheduleType: 'fixed',
        sendAt: inMinutes(60),
      }),
    );
    expect(err.code).toBe(35118);
  });

  test('a sent message cannot be canceled', async () => {
    const client = twilioClient(config);
    const m = await client.messages.create({ to: '+15551234567', from: '+15005550006', body: 'now' });
    expect((await twilioFailure(client.messages(m.sid).update({ status: 'canceled' }))).status).toBe(400);
  });

  test('wrong credentials are refused with 20003', async () => {
    const client = twilioClient({ ...config, authToken: 'wrong' });
    expect(
      (await twilioFailure(client.messages.create({ to: '+15551234567', from: '+15005550006', body: 'x' }))).code,
    ).toBe(20003);
  });

  test('the clock releases due scheduled messages', async () => {
    const m = await twilioClient(config).messages.create({
      to: '+15551234567',
      messagingServiceSid: MSS,
      body: 'x',
      scheduleType: 'fixed',
      sendAt: inMinutes(20),
    });
    sb.simulator.releaseDue();
    expect(sb.state.messages[0].resource.status).toBe('scheduled');
    sb.state.clock.advance(21 * 60);
    expect(sb.simulator.releaseDue().messages).toBe(1);
    expect((await twilioClient(config).messages(m.sid).fetch()).status).not.toBe('scheduled');
  });
});

describe('Twilio Calls', () => {
  test('places a call with inline TwiML, status callback events and machine detection', async () => {
    const call = await twilioClient(config).calls.create({
      to: '+819012345678',
      from: '+15005550006',
      twiml: '<Response><Say>hi</Say></Response>',
      statusCallback: `${collectorUrl}/voice/status`,
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      machineDetection: 'Enable',
    });
    expect(call.sid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(call.status).toBe('queued');
    expect(sb.state.calls[0].request.StatusCallbackEvent).toEqual(['initiated', 'ringing', 'answered', 'completed']);
  });

  test('a call needs Url or Twiml (21205)', async () => {
    expect(
      (await twilioFailure(twilioClient(config).calls.create({ to: '+15551234567', from: '+15005550006' } as never)))
        .code,
    ).toBe(21205);
  });
});

describe('Twilio Sync documents', () => {
  const docs = () => twilioClient(config).sync.v1.services('default').documents;

  test('create with a unique name, fetch by SID or name, update with If-Match', async () => {
    const d = await docs().create({ uniqueName: 'notification-1', data: { a: 1 }, ttl: 60 });
    expect(d.sid).toMatch(/^ET[0-9a-f]{32}$/);
    expect((await docs()(d.sid).fetch()).data).toEqual({ a: 1 });
    const updated = await docs()('notification-1').update({ data: { a: 2 }, ifMatch: d.revision });
    expect(updated.data).toEqual({ a: 2 });
    expect(updated.revision).not.toBe(d.revision);
  });

  test('a stale revision is 54103 and a taken unique name is 54301', async () => {
    const d = await docs().create({ uniqueName: 'n', data: {} });
    await docs()('n').update({ data: { x: 1 }, ifMatch: d.revision });
    const stale = await twilioFailure(docs()('n').update({ data: { x: 2 }, ifMatch: d.revision }));
    expect([stale.status, stale.code]).toEqual([412, 54103]);
    const taken = await twilioFailure(docs().create({ uniqueName: 'n', data: {} }));
    expect([taken.status, taken.code]).toEqual([409, 54301]);
  });

  test('a document expires after its TTL', async () => {
    await docs().create({ uniqueName: 'short', data: {}, ttl: 30 });
    sb.state.clock.advance(31);
    expect((await twilioFailure(docs()('short').fetch())).status).toBe(404);
  });
});

/** The SDK pointed at the sandbox without the service's upstream budget: no retries hide what the sandbox answered. */
function bareTwilio() {
  class ToSandbox extends twilio.RequestClient {
    override request<T>(opts: import('twilio/lib/base/RequestClient').RequestOptions<T>) {
      const u = new URL(opts.uri);
      return super.request<T>({ ...opts, uri: `${sb.url}${u.pathname}${u.search}` });
    }
  }
  return twilio(config.accountSid, config.authToken, { httpClient: new ToSandbox() });
}

describe('Twilio Sync limits and lists', () => {
  const service = () => bareTwilio().sync.v1.services('default');

  test("an object takes 200 writes in Sync's 10 s window, then 429 54009; other objects are not affected", async () => {
    const d = await service().documents.create({ uniqueName: 'busy', data: { n: 0 } });
    for (let n = 1; n < 200; n++) await service().documents('busy').update({ data: { n } });
    const refused = await twilioFailure(
      service()
        .documents('busy')
        .update({ data: { n: 200 } }),
    );
    expect([refused.status, refused.code]).toEqual([429, 54009]);
    expect((await service().documents('busy').fetch()).data).toEqual({ n: 199 }); // the refused write did nothing
    await service().documents.create({ uniqueName: 'quiet', data: {} });
    expect(sb.state.syncLimits.throttled.map((t) => t.object)).toEqual([`${d.serviceSid}/${d.sid}`]); // keyed by the Service SID Sync answers
  });

  test('a 10 KiB document is throttled harder: 2 writes/s, so its 21st write in 10 s is refused', async () => {
    const data = { pad: 'x'.repeat(10 * 1024 - 20) };
    await service().documents.create({ uniqueName: 'big', data });
    for (let n = 1; n < 20; n++) await service().documents('big').update({ data });
    const refused = await twilioFailure(service().documents('big').update({ data }));
    expect([refused.status, refused.code]).toEqual([429, 54009]);
  });

  test('reads are limited the same way', async () => {
    await service().documents.create({ uniqueName: 'hot', data: {} });
    for (let n = 0; n < 200; n++) await service().documents('hot').fetch();
    expect((await twilioFailure(service().documents('hot').fetch())).code).toBe(54009);
  });

  test('a List is one object for its items: appends need the list, page in index order and count as its writes', async () => {
    const missing = await twilioFailure(
      service()
        .syncLists('prior-0')
        .syncListItems.create({ data: { a: 1 } }),
    );
    expect(missing.status).toBe(404);
    const list = await service().syncLists.create({ uniqueName: 'prior-0' });
    expect(list.sid).toMatch(/^ES[0-9a-f]{32}$/);
    expect((await twilioFailure(service().syncLists.create({ uniqueName: 'prior-0' }))).code).toBe(54301);
    for (let i = 0; i < 150; i++)
      await service().syncLists('prior-0').syncListItems.create({ data: { i }, itemTtl: 60 });
    const first = await service().syncLists('prior-0').syncListItems.page({ order: 'asc', pageSize: 100 });
    expect(first.instances.map((x) => x.index)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const rest = await service()
      .syncLists('prior-0')
      .syncListItems.page({ from: '99', bounds: 'exclusive', pageSize: 100 });
    expect(rest.instances.map((x) => x.data.i)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
    for (let i = 150; i < 199; i++) await service().syncLists('prior-0').syncListItems.create({ data: { i } });
    const refused = await twilioFailure(service().syncLists('prior-0').syncListItems.create({ data: {} }));
    expect([refused.status, refused.code]).toEqual([429, 54009]);
    sb.state.clock.advance(61); // the first 150 items' TTL
    const left = await service().syncLists('prior-0').syncListItems.page({ pageSize: 100 });
    expect(left.instances[0].index).toBe(150);
  });
});

describe('SendGrid', () => {
  const mail = (extra: Record<string, unknown> = {}) => ({
    to: 'taro@example.jp',
    from: 'notifications@example.com',
    subject: '件名',
    text: '本文',
    ...extra,
  });

  test('@sendgrid/mail gets 202 with X-Message-Id', async () => {
    const [res] = await (await mailService(config)).send(mail({ customArgs: { notification_id: 'n1' } }));
    expect(res.statusCode).toBe(202);
    expect(res.headers['x-message-id']).toMatch(/^[\w-]{16,}$/);
    expect(sb.state.emails[0].request).toMatchObject({ custom_args: { notification_id: 'n1' } });
  });

  test('a wrong key is 401 and a missing subject is 400, both as {errors:[…]}', async () => {
    const bad = await (await mailService({ ...config, sendgridApiKey: 'SG.wrong' })).send(mail()).catch((e) => e);
    expect(bad.code).toBe(401);
    const noSubject = await (await mailService(config)).send(mail({ subject: undefined })).catch((e) => e);
    expect(noSubject.code).toBe(400);
    expect(noSubject.response.body.errors[0]).toMatchObject({ field: 'subject' });
  });

  test('send_at is limited to 72 hours and batches can be cancelled', async () => {
    const client = await sendgridClient(config);
    const [, batch] = await client.request({ method: 'POST', url: '/v3/mail/batch' });
    const tooFar = await (await mailService(config))
      .send(mail({ sendAt: Math.floor(Date.now() / 1000) + 73 * 3600, batchId: batch.batch_id }))
      .catch((e) => e);
    expect(tooFar.code).toBe(400);
    await (await mailService(config)).send(
      mail({ sendAt: Math.floor(Date.now() / 1000) + 3600, batchId: batch.batch_id }),
    );
    const [cancel] = await client.request({
      method: 'POST',
      url: '/v3/user/scheduled_sends',
      body: { batch_id: batch.batch_id, status: 'cancel' },
    });
    expect(cancel.statusCode).toBe(201);
    sb.state.clock.advance(3601);
    expect(sb.simulator.releaseDue().emails).toBe(0);
    expect(sb.state.emails[0].resource.status).toBe('canceled');
  });
});

describe('Segment', () => {
  const auth = (key: string) => ({
    Authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
    'Content-Type': 'application/json',
  });
  const post = (path: string, body: unknown, key: string = SANDBOX_DEFAULTS.SEGMENT_WRITE_KEY) =>
    fetch(`${sb.url}${path}`, { method: 'POST', headers: auth(key), body: JSON.stringify(body) });
  const engaged = (userId: string, channel: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      type: 'track',
      userId,
      event: 'Notification Engaged',
      messageId: `${userId}-${channel}-${i}`,
      properties: { channel },
    }));
  const traits = (id: string, query = '', token: string = SANDBOX_DEFAULTS.SEGMENT_PROFILE_API_TOKEN) =>
    fetch(`${sb.url}/v1/spaces/${SANDBOX_DEFAULTS.SEGMENT_SPACE_ID}/collections/users/profiles/${id}/traits${query}`, {
      headers: auth(token),
    });
  const traitsOf = async (id: string) =>
    ((await (await traits(id)).json()) as { traits: Record<string, unknown> }).traits;

  test('track, identify and batch are stored; a wrong write key is 200 and dropped', async () => {
    expect((await post('/v1/track', { userId: 'u', event: 'E', messageId: 'm1' })).status).toBe(200);
    expect((await post('/v1/identify', { userId: 'u', traits: { email: 'a@b.co' } })).status).toBe(200);
    expect((await post('/v1/track', { userId: 'u', event: 'E' }, 'wrong')).status).toBe(200);
    expect(sb.state.segmentEvents.map((e) => e.type)).toEqual(['track', 'identify']);
  });

  test('messageId deduplication, 32 KB event and 500 KB batch limits', async () => {
    await post('/v1/batch', {
      batch: [
        { type: 'track', userId: 'u', event: 'E', messageId: 'same' },
        { type: 'track', userId: 'u', event: 'E', messageId: 'same' },
      ],
    });
    expect(sb.state.segmentEvents).toHaveLength(1);
    expect(
      (await post('/v1/track', { userId: 'u', event: 'E', properties: { big: 'x'.repeat(33 * 1024) } })).status,
    ).toBe(400);
    const batch = Array.from({ length: 20 }, (_, i) => ({
      type: 'track',
      userId: 'u',
      event: 'E',
      messageId: `b${i}`,
      properties: { pad: 'x'.repeat(30 * 1024) },
    }));
    expect((await post('/v1/batch', { batch })).status).toBe(400);
  });

  test('Profile API: auth, 404 for unknown profiles, include, and %2B-encoded phone ids', async () => {
    await post('/v1/identify', { userId: 'u1', traits: { phone: '+819012345678', email: 'a@b.co', plan: 'pro' } });
    expect((await traits('user_id:u1', '', 'wrong')).status).toBe(401);
    const missing = await traits('user_id:nobody');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
    expect(await (await traits('user_id:u1', '?include=plan')).json()).toMatchObject({ traits: { plan: 'pro' } });
    expect((await traits('phone:%2B819012345678')).status).toBe(200);
    expect((await traits('phone:+819012345678')).status).toBe(404);
  });

  test('the computed trait is the most frequent engaged channel, at least 3 times, ties alphabetical', async () => {
    await post('/v1/batch', { batch: [...engaged('u2', 'SMS', 2), ...engaged('u2', 'EMAIL', 2)] });
    expect((await traitsOf('user_id:u2')).preferred_channel).toBeUndefined();
    await post('/v1/batch', {
      batch: [...engaged('u3', 'SMS', 3), ...engaged('u3', 'EMAIL', 3), ...engaged('u3', 'CALL', 1)],
    });
    expect((await traitsOf('user_id:u3')).preferred_channel).toBe('EMAIL');
    expect(mostFrequent(['CALL', 'SMS', 'SMS', 'SMS', 'CALL', 'CALL'], 3)).toBe('CALL');
  });
});

describe('simulated recipients', () => {
  test('status callbacks carry an X-Twilio-Signature that twilio.validateRequest accepts', async () => {
    sb.state.simulate = true;
    const callback = `${collectorUrl}/sms/status?notificationId=n1&userId=u1&channel=SMS`;
    await twilioClient(config).messages.create({
      to: '+15551234567',
      from: '+15005550006',
      body: 'x',
      statusCallback: callback,
    });
    await sb.simulator.settle();
    expect(received.map((r) => new URLSearchParams(r.body).get('MessageStatus'))).toEqual(['sent', 'delivered']);
    for (const r of received) {
      const params = Object.fromEntries(new URLSearchParams(r.body));
      expect(
        twilio.validateRequest(
          SANDBOX_DEFAULTS.AUTH_TOKEN,
          String(r.headers['x-twilio-signature']),
          `${collectorUrl}${r.url}`,
          params,
        ),
      ).toBe(true);
      expect(
        twilio.validateRequest(
          'another-token',
          String(r.headers['x-twilio-signature']),
          `${collectorUrl}${r.url}`,
          params,
        ),
      ).toBe(false);
    }
  });

  test('an engaging contact replies; STOP puts the number on the opt-out list (21610 next time)', async () => {
    sb.state.simulate = true;
    sb.state.contacts.set('+15551234567', { engage: { SMS: 1 }, reply: 'STOP' });
    const client = twilioClient(config);
    await client.messages.create({ to: '+15551234567', from: '+15005550006', body: 'x' });
    await sb.simulator.settle();
    const inbound = received.find((r) => r.url === '/sms/inbound');
    expect(Object.fromEntries(new URLSearchParams(inbound!.body))).toMatchObject({
      From: '+15551234567',
      Body: 'STOP',
      OptOutType: 'STOP',
    });
    expect(
      (await twilioFailure(client.messages.create({ to: '+15551234567', from: '+15005550006', body: 'x' }))).code,
    ).toBe(21610);
  });

  test('SendGrid event batches carry the Basic credentials and custom_args', async () => {
    sb.state.simulate = true;
    sb.state.contacts.set('taro@example.jp', { engage: { EMAIL: 1 }, machineOpen: true });
    await (await mailService(config)).send({
      to: 'taro@example.jp',
      from: 'notifications@example.com',
      subject: 's',
      text: 't',
      customArgs: { notification_id: 'n9', user_id: 'u9' },
    });
    await sb.simulator.settle();
    const post = received.find((r) => r.url === '/email/events')!;
    const expected = `Basic ${Buffer.from(`${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_USERNAME}:${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_PASSWORD}`).toString('base64')}`;
    expect(post.headers.authorization).toBe(expected);
    const events = JSON.parse(post.body) as Array<Record<string, unknown>>;
    expect(events.map((e) => [e.event, e.sg_machine_open ?? null])).toEqual([
      ['processed', null],
      ['delivered', null],
      ['open', true],
      ['open', false],
      ['click', null],
    ]);
    expect(events.every((e) => e.notification_id === 'n9' && typeof e.sg_event_id === 'string')).toBe(true);
  });

  test('fault injection answers the configured status for the next N requests (a read is retried once, a send never)', async () => {
    const client = twilioClient(config);
    sb.state.faults.set('twilio', { status: 503, remaining: 1 });
    // a send: a 5xx does not say whether it went out, so the client does not send it again
    expect(
      (await twilioFailure(client.messages.create({ to: '+15551234567', from: '+15005550006', body: 'x' }))).status,
    ).toBe(503);
    expect(sb.state.requestCounts.twilio).toBe(1);
    expect(sb.state.messages).toHaveLength(0);
    const { sid } = await client.messages.create({ to: '+15551234567', from: '+15005550006', body: 'x' });
    // a read is retried once
    sb.state.faults.set('twilio', { status: 503, remaining: 1 });
    expect((await client.messages(sid).fetch()).sid).toBe(sid);
    expect(sb.state.requestCounts.twilio).toBe(4);
    sb.state.faults.set('twilio', { status: 503, remaining: 2 });
    expect((await twilioFailure(client.messages(sid).fetch())).status).toBe(503);
    expect(sb.state.messages).toHaveLength(1);
  });
});

describe("Twilio's account concurrency and latency", () => {
  afterEach(() => {
    sb.state.upstream.concurrency = 100;
    sb.state.upstream.latencyMs = {};
  });

  test('past the account concurrency every Twilio API (REST and Sync together) answers 429 with error 20429', async () => {
    sb.state.upstream.concurrency = 5;
    sb.state.upstream.latencyMs = { twilio: 300, sync: 300 };
    sb.state.upstream.resetStats();
    const client = bareTwilio();
    const docs = client.sync.v1.services('default').documents;
    const results = await Promise.allSettled([
      ...Array.from({ length: 4 }, (_, i) => docs.create({ uniqueName: `conc-${i}`, data: {} })),
      ...Array.from({ length: 4 }, () =>
        client.messages.create({ to: '+819012345678', from: '+15005550006', body: 'x' }),
      ),
    ]);
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(refused).toHaveLength(3);
    expect(refused.map((e) => [e.status, e.code])).toEqual(Array(3).fill([429, 20429]));
    expect(sb.state.upstream.stats()).toMatchObject({ peakInFlight: 5, refused: 3, inFlight: 0 });
  });

  test('connections opened are counted per API, at their first request (each a TLS handshake against Twilio)', async () => {
    const { Agent, request } = await import('node:http');
    const auth = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`;
    const get = (path: string, agent: import('node:http').Agent) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${sb.url}${path}`, { agent, headers: { Authorization: auth } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject).end();
      });
    sb.state.upstream.resetStats();
    const kept = new Agent({ keepAlive: true, maxSockets: 1 });
    const fresh = new Agent({ keepAlive: false });
    try {
      // three reads over one kept-alive connection, two over a connection each, one Messages read
      for (let i = 0; i < 3; i++) await get('/v1/Services/default/Documents/none', kept);
      for (let i = 0; i < 2; i++) await get('/v1/Services/default/Documents/none', fresh);
      await get(`/2010-04-01/Accounts/${config.accountSid}/Messages.json`, fresh);
    } finally {
      kept.destroy();
    }
    expect(sb.state.upstream.stats().connections).toEqual({ sync: 3, twilio: 1 });
    sb.state.upstream.resetStats();
    expect(sb.state.upstream.stats().connections).toEqual({});
  });

  test('SANDBOX_LATENCY_MS delays each API by its own figure, and a malformed one names what is wrong', async () => {
    const { parseLatency } = await import('../sandbox/upstream-limits');
    expect(parseLatency('twilio:50,sync:60,segment:5')).toEqual({ twilio: 50, sync: 60, segment: 5 });
    expect(parseLatency('20')).toMatchObject({ twilio: 20, sync: 20, sendgrid: 20, segment: 20, profiles: 20 });
    expect(() => parseLatency('twilo:50')).toThrow(/unknown API "twilo"/);
    expect(() => parseLatency('sync=50')).toThrow(/api:milliseconds/);
    sb.state.upstream.latencyMs = { sync: 250 };
    const started = Date.now();
    await bareTwilio().sync.v1.services('default').documents.create({ uniqueName: 'slow', data: {} });
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });
});

describe("Twilio Functions' front door (1 MB, 10 s)", () => {
  let slow: Server;
  let front: import('node:http').Server[];
  const log = new (require('../sandbox/functions-runtime').InvocationLog)();
  let url = '';

  beforeAll(async () => {
    const { startFunctionsRuntime } = await import('../sandbox/functions-runtime');
    slow = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const wait = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('wait') ?? 0);
        setTimeout(() => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"ok":true}'), wait);
      });
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const port = await (await import('../sandbox/launch')).freePort();
    front = await startFunctionsRuntime(port, (slow.address() as { port: number }).port, log);
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    for (const s of [slow, ...front]) s.closeAllConnections();
    await Promise.all([slow, ...front].map((s) => new Promise((r) => s.close(r))));
  });

  test('a body over 1 MB is refused with 413 and never reaches the function', async () => {
    const res = await fetch(`${url}/email/events`, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect(log.stats().tooLarge).toBe(1);
    const ok = await fetch(`${url}/email/events`, { method: 'POST', body: 'x'.repeat(1024 * 1024) });
    expect(ok.status).toBe(200);
  });

  test("each invocation's wall time is recorded; one still running at 10 s is answered 504 (82002)", async () => {
    expect((await fetch(`${url}/quick?wait=50`)).status).toBe(200);
    const killed = await fetch(`${url}/stuck?wait=10500`);
    expect(killed.status).toBe(504);
    expect((await killed.json()).code).toBe(82002);
    const stats = log.stats();
    expect(stats.killed).toBe(1);
    expect(stats.maxMs).toBeGreaterThanOrEqual(10_000);
    expect(stats.slowest[0]).toMatchObject({ path: '/stuck', status: 504 });
    expect(stats.slowest.find((i: { path: string }) => i.path === '/quick').ms).toBeGreaterThanOrEqual(50);
  }, 20_000);
});

describe('the sandbox is never an open signer for a live account', () => {
  test('it refuses to start with credentials or callback URLs that are not its own, and says why', async () => {
    const { unsafeEnvironment } = await import('../sandbox/settings');
    expect(unsafeEnvironment({})).toBeUndefined();
    expect(unsafeEnvironment({ ...SANDBOX_DEFAULTS, PUBLIC_BASE_URL: 'http://localhost:3000' })).toBeUndefined();
    expect(unsafeEnvironment({ AUTH_TOKEN: 'f'.repeat(32) })).toMatch(/AUTH_TOKEN is not the sandbox's own/);
    expect(unsafeEnvironment({ ACCOUNT_SID: `AC${'1'.repeat(32)}`, NOTIFY_API_KEY: 'live' })).toMatch(
      /ACCOUNT_SID, NOTIFY_API_KEY are not/,
    );
    expect(unsafeEnvironment({ PUBLIC_BASE_URL: 'https://example.ngrok.app' })).toMatch(
      /PUBLIC_BASE_URL .* is not local/,
    );
    const { spawnSync } = await import('node:child_process');
    const run = spawnSync(process.execPath, [require.resolve('../.build/sandbox/main.js')], {
      env: { ...process.env, SANDBOX_NO_DOTENV: '1', SANDBOX_PORT: '0', AUTH_TOKEN: 'f'.repeat(32) },
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/refusing to start: AUTH_TOKEN/);
  });

  const control = (path: string, init: { headers?: Record<string, string>; body?: string; method?: string }) =>
    new Promise<number>((resolve, reject) => {
      // node:http, not fetch: fetch will not send a Host header of our choosing
      const u = new URL(path, sb.url);
      const req = require('node:http').request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: init.method ?? 'POST',
          headers: init.headers ?? {},
        },
        (res: IncomingMessage) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(init.body);
    });
  const fault = JSON.stringify({ api: 'segment', status: 503, count: 1 });

  test("control routes take exact application/json, a loopback Host and no foreign Origin (a web page can't drive them)", async () => {
    sb.state.faults.clear();
    expect(await control('/sandbox/faults', { headers: { 'Content-Type': 'text/plain;json' }, body: fault })).toBe(415);
    expect(
      await control('/sandbox/faults', {
        headers: { 'Content-Type': 'application/json', Origin: 'http://evil.example' },
        body: fault,
      }),
    ).toBe(403);
    expect(
      await control('/sandbox/faults', {
        headers: { 'Content-Type': 'application/json', Host: 'evil.example' },
        body: fault,
      }),
    ).toBe(403);
    expect(await control('/sandbox/messages', { method: 'GET', headers: { Host: 'rebound.example:80' } })).toBe(403);
    expect(sb.state.faults.size).toBe(0);
    const own = new URL(sb.url).host;
    expect(
      await control('/sandbox/faults', {
        headers: { 'Content-Type': 'application/json', Origin: `http://${own}` },
        body: fault,
      }),
    ).toBe(200);
    expect(sb.state.faults.size).toBe(1);
    sb.state.faults.clear();
  });

  test('the signer signs for the local functions only', async () => {
    const res = await fetch(`${sb.url}/sandbox/twilio-callback`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: 'https://victim.twil.io/sms/inbound', params: { Body: 'STOP' } }),
    });
    expect(res.status).toBe(400);
    expect(received.some((r) => r.body.includes('STOP'))).toBe(false);
  });
});
