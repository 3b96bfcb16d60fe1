/** Focused unit tests of the domain modules. */
import { callbackUrl, contextFromParams } from '../src/lib/http/callback-urls';
import { toBatches } from '../src/lib/clients/segment';
import type { SegmentMessage } from '../src/lib/segment-messages';
import { normalizeEmail, normalizePhone } from '../src/lib/contact';
import { messageId, phoneIdentity } from '../src/lib/segment-messages';
import { ApiError } from '../src/lib/http/errors';
import { mask } from '../src/lib/log';
import { decide, reachability } from '../src/lib/routing/decide';
import { answeredByPerson, callStatusEvents, callTwiml, sayAttributes } from '../src/lib/channels/call';
import { advance, type Step } from '../src/lib/journey/steps';
import { emailBinding, sendgridEvents } from '../src/lib/channels/email';
import { translate as translateEvent } from '../src/lib/app/webhooks/pipeline';

const TOKEN = 'auth-token-of-these-tests';

/** Events as /notify's emails send them: their notification and user bound (custom_args.binding). */
const bound = (batch: Record<string, unknown>[]) =>
  batch.map((e) =>
    typeof e === 'object' && e && typeof e.notification_id === 'string' && typeof e.user_id === 'string'
      ? { binding: emailBinding(TOKEN, e.notification_id, e.user_id), ...e }
      : e,
  );

/** A SendGrid batch (bound) as the Segment events the webhook sends, and what it skipped. */
const translate = (batch: Record<string, unknown>[]) => {
  const { events, skipped } = sendgridEvents(bound(batch), TOKEN);
  return { events: events.flatMap((e) => translateEvent(e).events), skipped };
};

describe('phone and email', () => {
  test.each([
    ['090-1234-5678', 'ja-JP', '+819012345678'],
    ['03-1234-5678', 'ja-JP', '+81312345678'],
    ['+81 90 1234 5678', 'en-US', '+819012345678'],
    ['(415) 555-2671', 'en-US', '+14155552671'],
  ])('%s with %s is %s', (raw, locale, e164) => expect(normalizePhone(raw, locale)).toBe(e164));

  test('an invalid number or address is a 400 naming the field', () => {
    expect(() => normalizePhone('090-1234', 'ja-JP')).toThrow(expect.objectContaining({ status: 400, field: 'phone' }));
    expect(() => normalizeEmail('taro@', 'email')).toThrow(ApiError);
  });
});

describe('routing', () => {
  test('random only among reachable channels', () => {
    const reach = reachability({ phone: '+819012345678' });
    expect(reach.reachable).toEqual(['SMS', 'CALL']);
    const picks = new Set(
      [0, 0.49, 0.5, 0.99].map((r) => (decide(reach, { random: () => r }) as { channel: string }).channel),
    );
    expect(picks).toEqual(new Set(['SMS', 'CALL']));
  });

  test('preference when reachable, fallback when not, override wins, none is an error', () => {
    expect(decide(reachability({ phone: '+1', email: 'a@b.co' }), { preferred: 'EMAIL' })).toEqual({
      ok: true,
      channel: 'EMAIL',
      reason: 'preference',
    });
    expect(
      decide(reachability({ phone: '+1', optedOut: { SMS: true } }), { preferred: 'SMS', random: () => 0 }),
    ).toEqual({
      ok: true,
      channel: 'CALL',
      reason: 'fallback',
    });
    expect(decide(reachability({ phone: '+1', email: 'a@b.co' }), { override: 'SMS', preferred: 'EMAIL' })).toEqual({
      ok: true,
      channel: 'SMS',
      reason: 'override',
    });
    expect(decide(reachability({}), {})).toMatchObject({
      ok: false,
      why: expect.stringContaining('no reachable channel'),
    });
  });
});

describe('events and ids', () => {
  test('messageIds stay under 100 characters and are stable', () => {
    const long = messageId('sendgrid', 'x'.repeat(200));
    expect(long.length).toBeLessThanOrEqual(100);
    expect(messageId('sendgrid', 'x'.repeat(200))).toBe(long);
    expect(messageId('engaged', 'n1', 'SMS')).toBe('engaged:n1:SMS');
  });

  test("an unattributed phone becomes an anonymous id (a keyed hash, not the number's plain hash) with the phone as external id", () => {
    const who = phoneIdentity('+819012345678', 'secret') as { anonymousId: string; context: Record<string, any> };
    expect(who.anonymousId).toMatch(/^phone-[0-9a-f]{32}$/);
    const plain = require('node:crypto').createHash('sha256').update('+819012345678').digest('hex').slice(0, 32);
    expect(who.anonymousId).not.toBe(`phone-${plain}`);
    expect((phoneIdentity('+819012345678', 'other') as { anonymousId: string }).anonymousId).not.toBe(who.anonymousId);
    expect(who.context).toEqual({
      externalIds: [{ id: '+819012345678', type: 'phone', collection: 'users', encoding: 'none' }],
    });
  });

  test('events are split into as few batches as the size limit allows', () => {
    const msg = (i: number): SegmentMessage => ({
      type: 'track',
      userId: 'u',
      event: 'E',
      messageId: `m${i}`,
      properties: { pad: 'x'.repeat(20_000) },
    });
    const batches = toBatches(Array.from({ length: 60 }, (_, i) => msg(i)));
    expect(batches.length).toBe(3);
    expect(batches.flat().length).toBe(60);
  });

  test("an event over Segment's 32 KB is cut to fit (its long texts, else its properties), never thrown out with its batch", () => {
    const long: SegmentMessage = {
      type: 'track',
      userId: 'u',
      event: 'Notification Failed',
      messageId: 'm-long',
      properties: { notification_id: 'n1', channel: 'EMAIL', reason: 'r'.repeat(40_000) },
    };
    const many: SegmentMessage = {
      ...long,
      messageId: 'm-many',
      properties: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'v'.repeat(900)])),
    };
    const [batch] = toBatches([long, many]);
    expect(batch).toHaveLength(2);
    for (const json of batch) expect(Buffer.byteLength(json)).toBeLessThan(32 * 1024);
    expect(JSON.parse(batch[0]).properties).toMatchObject({ notification_id: 'n1', channel: 'EMAIL' });
    expect(JSON.parse(batch[0]).properties.reason).toHaveLength(1025);
    expect(JSON.parse(batch[1]).properties).toMatchObject({ truncated: true });
  });
});

describe('callbacks', () => {
  test('context round-trips through the query string', () => {
    const url = callbackUrl('https://x.twil.io', '/sms/status', {
      notificationId: 'n1',
      userId: 'u@1',
      channel: 'SMS',
    });
    expect(url).toBe('https://x.twil.io/sms/status?notificationId=n1&userId=u%401&channel=SMS');
    expect(contextFromParams(Object.fromEntries(new URL(url).searchParams))).toEqual({
      notificationId: 'n1',
      userId: 'u@1',
      channel: 'SMS',
    });
  });

  test('Japanese calls speak ja-JP and gather one digit', () => {
    const twiml = callTwiml({
      message: '予約のお知らせです',
      locale: 'ja-JP',
      gatherUrl: 'https://x/voice/gather?a=1&b=2',
      say: sayAttributes('ja-JP', { voices: {} }),
    });
    expect(twiml).toContain('<Say language="ja-JP" voice="Polly.Mizuki">予約のお知らせです</Say>');
    expect(twiml).toMatch(/<Gather numDigits="1" action="https:\/\/x\/voice\/gather\?a=1&amp;b=2"/);
  });

  test('machines and faxes are not people', () => {
    expect([undefined, 'human', 'unknown', 'machine_start', 'machine_end_beep', 'fax'].map(answeredByPerson)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  test('only a call Twilio could not place fails; one that rings out, is busy or reaches a machine is unanswered', () => {
    const kindOf = (CallStatus: string, more: Record<string, string> = {}) =>
      callStatusEvents({
        CallSid: `CA${'0'.repeat(32)}`,
        CallStatus,
        notificationId: 'n-1',
        userId: 'u-1',
        channel: 'CALL',
        ...more,
      }).events.map((e) => [e.kind, e.details?.cause]);
    expect(kindOf('failed')).toEqual([['failed', 'failed']]);
    expect(kindOf('no-answer')).toEqual([['unanswered', 'no-answer']]);
    expect(kindOf('busy')).toEqual([['unanswered', 'busy']]);
    expect(kindOf('canceled')).toEqual([['unanswered', 'canceled']]);
    expect(kindOf('in-progress', { AnsweredBy: 'machine_start' })).toEqual([['unanswered', 'machine']]);
    expect(kindOf('in-progress', { AnsweredBy: 'human' })).toEqual([['answered', undefined]]);
  });
});

describe('record steps', () => {
  test('a late or repeated status never moves a step backwards; terminal states stay', () => {
    const step: Step = { channel: 'SMS', status: 'SENT', updatedAt: '' };
    expect(advance(step, 'DELIVERED', 't')).toBe(true);
    expect(advance(step, 'SENT', 't')).toBe(false);
    expect(advance(step, 'DELIVERED', 't')).toBe(false);
    expect(advance(step, 'COMPLETED', 't')).toBe(true);
    expect(advance(step, 'FAILED', 't')).toBe(false);
    expect(step.status).toBe('COMPLETED');
  });
});

describe('SendGrid batches', () => {
  const ev = (event: string, extra: Record<string, unknown> = {}) => ({
    event,
    sg_event_id: `id-${event}-${Math.random()}`,
    notification_id: 'n1',
    user_id: 'u1',
    timestamp: 1700000000,
    ...extra,
  });

  test('machine opens are opens but never engagement; clicks and human opens are', () => {
    const out = translate([ev('open', { sg_machine_open: true })]);
    expect(out.events.map((e) => e.event)).toEqual(['Notification Opened']);
    expect(out.events[0].properties).toMatchObject({ machine_open: true });
    const human = translate([ev('open', { sg_machine_open: false }), ev('click', { url: 'https://x' })]);
    expect(human.events.map((e) => e.event)).toEqual([
      'Notification Opened',
      'Notification Engaged',
      'Notification Clicked',
      'Notification Engaged',
    ]);
    expect(new Set(human.events.filter((e) => e.event === 'Notification Engaged').map((e) => e.messageId)).size).toBe(
      1,
    );
  });

  test('foreign, unknown and malformed events are skipped and counted', () => {
    const out = translate([
      ev('delivered'),
      { event: 'delivered', sg_event_id: 'x' },
      ev('brand_new_type'),
      ev('click', { sg_event_id: undefined }),
      'junk' as never,
    ]);
    expect(out.events.map((e) => e.event)).toEqual(['Notification Delivered']);
    expect(out.skipped).toEqual({ not_ours: 1, unbound: 0, unknown_type: 1, invalid: 2, ignored: 0 });
  });

  test('an event is trusted only with the binding of its notification and user', () => {
    const good = bound([ev('click', { url: 'https://x' })])[0];
    const forged = [
      { ...good, user_id: 'u2' }, // another user on a real notification's binding
      { ...good, notification_id: 'n2' }, // another notification
      { ...good, binding: undefined }, // none (an email sent before bindings, or a forgery)
      { ...good, binding: emailBinding('another-account-token', 'n1', 'u1') },
      { ...good, event: 'unsubscribe', binding: 'x'.repeat(16) },
    ];
    const out = sendgridEvents(forged, TOKEN);
    expect(out.events).toEqual([]);
    expect(out.skipped.unbound).toBe(5);
    expect(sendgridEvents([good], TOKEN).events).toHaveLength(1);
  });
});

describe("SendGrid's Signed Event Webhook, checked on the parsed batch", () => {
  // SendGrid's own test vectors (sendgrid-nodejs, packages/eventwebhook/src/eventwebhook.spec.js):
  // bodies SendGrid signed, as twilio-run and Twilio Functions hand them over (parsed)
  interface Vector {
    key: string;
    signature: string;
    timestamp: string;
    events: Array<Record<string, unknown>>;
  }
  const single: Vector = {
    key: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==',
    signature: 'MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=',
    timestamp: '1600112502',
    events: [
      {
        email: 'hello@world.com',
        event: 'dropped',
        reason: 'Bounced Address',
        sg_event_id: 'ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA',
        sg_message_id: 'LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0',
        'smtp-id': '<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>',
        timestamp: 1600112492,
      },
    ],
  };
  const multiple: Vector = {
    key: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ4LIFtWztlsF7skFqOncjD1lun4H5w8XOhyOArHW9RcIx/FfEzx6cikC/yPfUvwaX/JScE7Fc9CJD2afQ9Ok3Q==',
    signature: 'MEYCIQC/I4o6vCgqRYrTljjoVWB/GRWNtxeePlLMHr3x9ETeRQIhAIpV+03nREPTTHWSW0wIOA0EoMPdcNgXa70yCaqDJlu5',
    timestamp: '1619651159',
    events: [
      {
        email: 'invalid@gmail.com',
        event: 'processed',
        send_at: 0,
        sg_event_id: 'cHJvY2Vzc2VkLTE5OTQyMTEyLXFOd0JMZ1BRUWpXNkRKdktRd1NBYnctMA',
        sg_message_id: 'qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0',
        'smtp-id': '<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>',
        timestamp: 1619651146,
      },
      {
        email: 'invalid@gmail.com',
        event: 'bounce',
        ip: '167.89.101.76',
        reason:
          '552 5.2.2 The email account that you tried to reach is over quota and inactive. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm c17si1130468pgv.34 - gsmtp',
        sg_event_id: 'Ym91bmNlLTAtMTk5NDIxMTItcU53QkxnUFFRalc2REp2S1F3U0Fidy0w',
        sg_message_id: 'qNwBLgPQQjW6DJvKQwSAbw.filterdrecv-canary-547b64655b-cw6zx-1-6089EA4A-56.0',
        'smtp-id': '<qNwBLgPQQjW6DJvKQwSAbw@ismtpd0178p1mdw1.sendgrid.net>',
        status: '5.2.2',
        timestamp: 1619651147,
        tls: 1,
        type: 'blocked',
      },
    ],
  };
  const headers = (v: Vector) => ({
    'x-twilio-email-event-webhook-signature': v.signature,
    'x-twilio-email-event-webhook-timestamp': v.timestamp,
  });

  test.each([
    ['one event', single],
    ['two events', multiple],
  ])('a batch SendGrid signed verifies (%s)', async (_, v) => {
    const { hasValidSendgridSignature } = await import('../src/lib/http/auth');
    expect(await hasValidSendgridSignature(v.key, headers(v), v.events)).toBe(true);
  });

  test('a changed event, timestamp, key or signature does not', async () => {
    const { hasValidSendgridSignature } = await import('../src/lib/http/auth');
    const v = multiple;
    const changed = [{ ...v.events[0] }, { ...v.events[1], event: 'click' }];
    expect(await hasValidSendgridSignature(v.key, headers(v), changed)).toBe(false);
    expect(await hasValidSendgridSignature(v.key, headers(v), [...v.events, v.events[0]])).toBe(false);
    const later = { ...headers(v), 'x-twilio-email-event-webhook-timestamp': '1619651160' };
    expect(await hasValidSendgridSignature(v.key, later, v.events)).toBe(false);
    expect(await hasValidSendgridSignature(single.key, headers(v), v.events)).toBe(false);
    const unsigned = { 'x-twilio-email-event-webhook-timestamp': v.timestamp };
    expect(await hasValidSendgridSignature(v.key, unsigned, v.events)).toBe(false);
    const junk = { ...headers(v), 'x-twilio-email-event-webhook-signature': 'not base64 DER' };
    expect(await hasValidSendgridSignature(v.key, junk, v.events)).toBe(false);
  });
});

describe('log masking', () => {
  test('phone numbers and email addresses are masked, SIDs kept', () => {
    const line = mask(
      'to +819012345678 and 090-1234-5678 and taro.yamada@example.co.jp via SM0123456789abcdef0123456789abcdef',
    );
    expect(line).not.toMatch(/9012345678|1234-5678|taro\.yamada|example\.co/);
    expect(line).toContain('SM0123456789abcdef0123456789abcdef');
    expect(mask('notification=cc38e56d-88fd-4123-8987-19099633e697')).toBe(
      'notification=cc38e56d-88fd-4123-8987-19099633e697',
    );
    expect(mask('phone=(03) 1234-5678.')).not.toMatch(/1234-5678/);
  });
});

describe('bounded concurrency', () => {
  test('settleLimited keeps order, settles failures, and never runs more than the limit at once', async () => {
    const { settleLimited } = await import('../src/lib/app/webhooks/pipeline');
    let running = 0;
    let peak = 0;
    const results = await settleLimited(
      Array.from({ length: 40 }, (_, i) => i),
      16,
      async (i) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        if (i === 7) throw new Error('seven');
        return i * 2;
      },
    );
    expect(peak).toBe(16);
    expect(results[7]).toMatchObject({ status: 'rejected' });
    expect(results[39]).toEqual({ status: 'fulfilled', value: 78 });
  });
});

describe('authentication with nothing configured', () => {
  const request = (config: Record<string, unknown>, headers: Record<string, string>) =>
    ({
      config: { authToken: 'token', ...config },
      headers,
      params: {},
      path: '/notify',
      context: { DOMAIN_NAME: 'localhost:3000' },
    }) as never;

  test('an empty NOTIFY_API_KEY opens nothing, whatever Bearer is sent', async () => {
    const { requireApiKey } = await import('../src/lib/http/auth');
    for (const header of ['Bearer ', 'Bearer', 'Bearer undefined', '']) {
      expect(() => requireApiKey(request({ notifyApiKey: undefined }, { authorization: header }))).toThrow(
        expect.objectContaining({ status: 401 }),
      );
    }
    expect(() => requireApiKey(request({ notifyApiKey: 'k' }, { authorization: 'Bearer k' }))).not.toThrow();
  });

  test('missing SendGrid webhook credentials close /email/events', async () => {
    const { requireSendgridWebhook } = await import('../src/lib/http/auth');
    const empty = `Basic ${Buffer.from(':').toString('base64')}`;
    await expect(requireSendgridWebhook(request({}, { authorization: empty }))).rejects.toMatchObject({ status: 401 });
    await expect(
      requireSendgridWebhook(
        request({ sendgridWebhookUsername: 'u' }, { authorization: `Basic ${Buffer.from('u:').toString('base64')}` }),
      ),
    ).rejects.toMatchObject({ status: 401 });
  });
});

describe('what a log line carries of an error', () => {
  test("a library's error is named and located, never quoted (its message may hold a body); a vendor's is kept", () => {
    const { errorText } = require('../src/lib/log') as typeof import('../src/lib/log');
    const { SyncError } = require('../src/lib/clients/sync') as typeof import('../src/lib/clients/sync');
    const leaky = new TypeError('Invalid character in <Say>明日10時に田中様の診察です</Say>');
    const text = errorText(leaky);
    expect(text).toMatch(/^TypeError at .+:\d+$/);
    expect(text).not.toContain('田中');
    expect(errorText(new SyncError(412, 54103, 'The revision of the Document does not match'))).toBe(
      'The revision of the Document does not match',
    );
    expect(errorText('a string')).toBe('string');
  });
});
