/**
 * Security review, second round (issue 29), each finding closed with a test through the running
 * functions: forged SendGrid events, ...
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { SANDBOX_SIGNING_KEYS, eventBatchBody, newSigningKeys, signatureHeaders } from '../sandbox/sendgrid-signing';
import { SANDBOX_DEFAULTS } from '../sandbox/settings';
import { bearer, call, emailEvents, notify, ownStack, sandbox, waitFor } from './helpers';

const uid = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const evidenceName = (u: string) => `evidence-${createHash('sha256').update(u).digest('hex').slice(0, 40)}`;
const basic = `Basic ${Buffer.from(`${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_USERNAME}:${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_PASSWORD}`).toString('base64')}`;

beforeEach(() => sandbox.reset(false));

describe('forged SendGrid events', () => {
  const click = (notificationId: string, userId: string, i: number) => ({
    event: 'click',
    url: 'https://example.com/r',
    sg_event_id: uid(`forged-${i}`),
    notification_id: notificationId,
    user_id: userId,
    timestamp: 1765000000 + i,
  });

  test("with the webhook's Basic credentials but not SendGrid's signature, a batch is refused 403 and nothing is read", async () => {
    const batch = [click('n-forged', 'taro', 0)];
    const raw = eventBatchBody(batch);
    const now = Math.floor(Date.now() / 1000);
    const posts = {
      unsigned: {},
      'signed with another key': signatureHeaders(newSigningKeys(), raw, now),
      'signed for another timestamp': {
        ...signatureHeaders(SANDBOX_SIGNING_KEYS, raw, now),
        'X-Twilio-Email-Event-Webhook-Timestamp': String(now + 1),
      },
    };
    const before = await sandbox.requests();
    for (const [, headers] of Object.entries(posts)) {
      const res = await call('POST', '/email/events', {
        raw,
        headers: { 'Content-Type': 'application/json', Authorization: basic, ...headers },
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('invalid_signature');
    }
    expect(await sandbox.requests()).toEqual(before);
    expect(await sandbox.events()).toEqual([]);
    // the same batch signed by the webhook's key is accepted (and then judged event by event)
    expect((await emailEvents(batch)).status).toBe(200);
  });

  test("events without their notification's binding credit nobody and cost no Sync request: 8 forged clicks, a forged unsubscribe", async () => {
    const taro = uid('taro');
    const hanako = uid('hanako');
    const forged = [
      ...Array.from({ length: 8 }, (_, i) => click(`never-sent-${i}`, taro, i)),
      { ...click('never-sent-u', hanako, 9), event: 'unsubscribe' },
    ];
    const before = (await sandbox.requests()).sync ?? 0;
    // signed (as if the forger could), but not bound: binding: none, or one made up
    for (const binding of [undefined, 'AAAAAAAAAAAAAAAA']) {
      const res = await emailEvents(
        forged.map((e) => ({ ...e, sg_event_id: uid('f'), binding })),
        undefined,
        { bind: false },
      );
      expect(res.status).toBe(200);
      expect(res.body.skipped.unbound).toBe(9);
      expect(res.body.tracked).toBe(0);
    }
    expect(await sandbox.events()).toEqual([]);
    const docs = (await sandbox.documents()).map((d: { unique_name: string }) => d.unique_name);
    expect(docs).not.toContain(evidenceName(taro));
    expect(docs).not.toContain(evidenceName(hanako));
    // the batch's ledger is its only Sync work: no record, evidence or outbox read for a forged event
    expect(((await sandbox.requests()).sync ?? 0) - before).toBeLessThanOrEqual(4);
  });

  test('2,000 unbound events in one 213 KB post: no Sync work per event, no Segment event, nothing kept', async () => {
    const batch = Array.from({ length: 2000 }, (_, i) => ({
      ...click(`flood-${i}`, `flood-user-${i}`, i),
      binding: 'AAAAAAAAAAAAAAAA',
    }));
    const before = (await sandbox.requests()).sync ?? 0;
    const res = await emailEvents(batch, undefined, { bind: false });
    expect(res.status).toBe(200);
    expect(res.body.skipped.unbound).toBe(2000);
    expect(((await sandbox.requests()).sync ?? 0) - before).toBeLessThanOrEqual(4);
    expect(await sandbox.events()).toEqual([]);
    const docs = (await sandbox.documents()).map((d: { unique_name: string }) => d.unique_name);
    expect(docs.filter((n: string) => n.startsWith('evidence-') || n.startsWith('outbox-'))).toEqual([]);
  });

  test('a bound event for a notification we have no record of credits nobody; an unsubscribe in it is still honoured', async () => {
    const userId = uid('expired');
    const res = await emailEvents([
      click('no-record-1', userId, 1),
      { ...click('no-record-1', userId, 2), event: 'open', sg_machine_open: false },
      { ...click('no-record-2', userId, 3), event: 'unsubscribe' },
    ]);
    expect(res.status).toBe(200);
    const names = (await sandbox.events({ userId })).map((e) => e.event ?? e.type);
    expect(names).not.toContain('Notification Engaged');
    expect(names).toEqual(
      expect.arrayContaining(['Notification Clicked', 'Notification Opened', 'Notification Opted Out', 'identify']),
    );
    const docs = (await sandbox.documents()).map((d: { unique_name: string }) => d.unique_name);
    expect(docs).not.toContain(evidenceName(userId));
  });

  test('an email /notify sent carries its binding, and its genuine events are credited', async () => {
    const userId = uid('genuine');
    const sent = await notify({ userId, email: 'genuine@example.jp', message: 'x', channel: 'email' });
    const [mail] = await sandbox.emails();
    const args = mail.request.personalizations?.[0]?.custom_args ?? mail.request.custom_args;
    expect(args).toMatchObject({ notification_id: sent.body.notificationId, user_id: userId });
    expect(args.binding).toMatch(/^[A-Za-z0-9_-]{12}$/);
    const res = await emailEvents([{ ...click(sent.body.notificationId, userId, 1), binding: args.binding }]);
    expect(res.body.skipped.unbound).toBe(0);
    expect((await sandbox.events({ userId, event: 'Notification Engaged' })).length).toBe(1);
  });
});

describe('a poison parcel', () => {
  let c: Awaited<ReturnType<typeof ownStack>>;
  beforeAll(async () => {
    c = await ownStack(() => ({ RECOVERY_SWEEP_SECONDS: '0' }));
  }, 90_000);
  afterAll(() => c?.stop());
  beforeEach(() => c.sandbox.reset(false));
  const recover = async (json: Record<string, unknown> = {}) =>
    (await c.call('POST', '/recover', { headers: bearer, json })).body;
  const open = (notificationId: string, userId: string) => ({
    event: 'open',
    sg_machine_open: false,
    sg_event_id: `open-${notificationId}`,
    notification_id: notificationId,
    user_id: userId,
  });

  test('a 20 KB bounce reason is capped as it comes in: the record takes it, Segment gets 512 characters', async () => {
    const userId = uid('bounce');
    const sent = await c.notify({ userId, email: 'bounce@example.jp', message: 'x', channel: 'email' });
    const id = sent.body.notificationId;
    const res = await c.emailEvents([
      {
        event: 'bounce',
        sg_event_id: uid('b'),
        notification_id: id,
        user_id: userId,
        reason: 'x'.repeat(20_000),
        type: 'bounce',
      },
    ]);
    expect(res.status).toBe(200);
    const record = (await c.sandbox.documents()).find(
      (d: { unique_name: string }) => d.unique_name === `notification-${id}`,
    );
    expect(record.data.steps[0]).toMatchObject({ status: 'FAILED' });
    expect(record.data.steps[0].error.length).toBeLessThanOrEqual(513);
    const [failed] = await c.sandbox.events({ userId, event: 'Notification Failed' });
    expect(failed.properties?.reason.length).toBeLessThanOrEqual(513);
  });

  test('a record that can never be written: the rest of its chunk is told once, it is retried with backoff, then it is a dead letter an operator retries', async () => {
    const N = 150; // two chunks of notifications: a large batch, kept in parcels what it cannot finish
    const pad = (i: number) => String(i).padStart(3, '0');
    const pairs: Array<[string, string]> = Array.from({ length: N }, (_, i) => [
      `poison-n-${pad(i)}`,
      `poison-u-${pad(i)}`,
    ]);
    await c.sandbox.emailRecords(pairs);
    // every write of one record is refused, as Sync refuses a document it cannot take
    await c.sandbox.fault({
      api: 'sync',
      method: 'POST',
      path: '/Documents/notification-poison-n-007',
      status: 400,
      body: { code: 54006, message: 'Document data too large', status: 400 },
      count: 1_000,
    });
    expect((await c.emailEvents(pairs.map(([n, u]) => open(n, u)))).status).toBe(200);
    const engaged = async () => (await c.sandbox.events({ event: 'Notification Engaged' })).map((e) => e.userId);
    // everyone else is told at once; the poison notification's events wait for its record
    await waitFor(async () => (await engaged()).length === N - 1);
    expect(await engaged()).not.toContain('poison-u-007');

    // recovery tries it again and again, each time later (1, 2, 4 … minutes), then gives up
    let dead: Array<{ parcel: string; kind: string; items: number; tries: number }> = [];
    for (let attempt = 0; attempt < 12 && dead.length === 0; attempt++) {
      await c.sandbox.advance(2 ** attempt * 60 + 1);
      await recover();
      dead = (await c.call('GET', '/insights', { headers: bearer })).body.outbox.deadLetters;
    }
    expect(dead).toEqual([expect.objectContaining({ kind: 'work', items: 1, tries: 8 })]);
    // no event of the chunk was sent again in all those tries (the sandbox, as Segment, drops a repeated
    // messageId; the identifies of what was learned may be repeated by racing recoveries, by design)
    const repeated = (await c.sandbox.rejected()).filter(
      (r) => r.reason.includes('duplicate') && r.payload.type === 'track',
    );
    expect(repeated).toEqual([]);
    expect(await engaged()).toHaveLength(N - 1);
    expect((await recover({ deadLetters: 'list' })).deadLetters).toHaveLength(1);

    // the store takes the record again; the operator retries the dead letter (npm run dead-letters -- retry)
    await c.sandbox.fault({ api: 'sync', count: 0 });
    const retried = await recover({ deadLetters: 'retry' });
    expect(retried.retried).toEqual([dead[0].parcel]);
    expect(retried.deadLetters).toEqual([]);
    await waitFor(async () => (await engaged()).includes('poison-u-007'));
    expect(await engaged()).toHaveLength(N);
    expect((await c.call('GET', '/insights', { headers: bearer })).body.outbox).toEqual({
      waiting: 0,
      deadLetters: [],
    });
  }, 120_000);

  test('the local stack listens on loopback only, and its front door serves loopback names only (no DNS rebinding)', async () => {
    // every listening TCP socket on the functions' own port (twilio-run's, behind the front door)
    const listening = (file: string, port: number) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .slice(1)
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f[3] === '0A' && Number.parseInt(f[1]?.split(':')[1] ?? '', 16) === port)
        .map((f) => f[1].split(':')[0]);
    const v4 = listening('/proc/net/tcp', c.twilioRunPort);
    const v6 = existsSync('/proc/net/tcp6') ? listening('/proc/net/tcp6', c.twilioRunPort) : [];
    expect([...v4, ...v6].length).toBeGreaterThan(0);
    expect(v4.every((a) => a === '0100007F')).toBe(true); // 127.0.0.1, not 0.0.0.0
    expect(v6).toEqual([]); // not [::] either
    const port = new URL(c.urls.functionsUrl).port;
    const withHost = (host: string) =>
      new Promise<number>((resolve, reject) =>
        httpRequest({ host: '127.0.0.1', port, path: '/health', headers: { Host: host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
          .on('error', reject)
          .end(),
      );
    expect(await withHost(`rebind.attacker.example:${port}`)).toBe(403);
    expect(await withHost(`localhost:${port}`)).toBe(200);
    expect(await withHost(`127.0.0.1:${port}`)).toBe(200);
  });

  test('dropping a dead letter names it; an unknown one is a 400 naming the field', async () => {
    const res = await recover({ deadLetters: 'drop', parcel: 'parcel-nothing-w0' });
    expect(res.error).toMatchObject({ code: 'invalid_parameter', field: 'parcel' });
    expect((await recover({ deadLetters: 'sometimes' })).error.field).toBe('deadLetters');
  });
});

describe('each key may do what it is for', () => {
  const studio = {
    Authorization: `Basic ${Buffer.from(`studio:${SANDBOX_DEFAULTS.STUDIO_API_KEY}`).toString('base64')}`,
  };
  const insights = { Authorization: `Bearer ${SANDBOX_DEFAULTS.INSIGHTS_API_KEY}` };
  const form = () => ({
    userId: uid('k'),
    phone: '+819012345678',
    message: 'm',
    channel: 'sms',
    notificationId: uid('k-n'),
  });

  test("Studio's key sends and reads notifications, and nothing else", async () => {
    const sent = await call('POST', '/notify', { form: form(), headers: studio });
    expect(sent.status).toBe(200);
    const id = sent.body.notificationId;
    expect((await call('GET', `/notification?notificationId=${id}`, { headers: studio })).status).toBe(200);
    for (const [method, path, body] of [
      ['GET', '/insights', undefined],
      ['GET', '/channel?userId=u&phone=%2B819012345678', undefined],
      ['POST', '/cancel', { notificationId: id }],
      ['POST', '/recover', {}],
    ] as const)
      expect((await call(method, path, { headers: studio, form: body })).status).toBe(401);
  });

  test('the insights key reads /insights, and sends nothing', async () => {
    expect((await call('GET', '/insights', { headers: insights })).status).toBe(200);
    expect((await call('POST', '/notify', { json: form(), headers: insights })).status).toBe(401);
    expect((await call('POST', '/recover', { json: {}, headers: insights })).status).toBe(401);
    expect(await sandbox.messages()).toEqual([]);
  });
});
