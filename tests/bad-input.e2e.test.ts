/**
 * Malformed requests across every endpoint: each gets a 4xx with a JSON
 * `{error: {code, message, field}}` (TwiML endpoints: a 4xx with empty TwiML),
 * never a 500 or a stack trace, and nothing half-done: no send, no event.
 */
import { API_KEY, call, emailEvents, sandbox, signedPost } from './helpers';

const auth = { Authorization: `Bearer ${API_KEY}` };
const ok = { userId: 'bad-input-user', phone: '+819012345678', email: 'taro@example.jp', message: 'm' };
const CTX = '?notificationId=n1&userId=u1&channel=SMS';
const VCTX = '?notificationId=n1&userId=u1&channel=CALL';

type Send = () => ReturnType<typeof call>;
interface Case {
  name: string;
  send: Send;
  field?: string;
  status?: number;
  twiml?: boolean;
}

const json =
  (path: string, body: unknown): Send =>
  () =>
    call('POST', path, { json: body, headers: auth });
const notifyWith = (patch: Record<string, unknown>): Send => json('/notify', { ...ok, ...patch });

const cases: Case[] = [
  {
    name: 'notify: text/plain body',
    send: () =>
      call('POST', '/notify', { raw: 'userId=u&message=m', headers: { ...auth, 'Content-Type': 'text/plain' } }),
    field: 'userId',
  },
  { name: 'notify: empty JSON object', send: json('/notify', {}), field: 'userId' },
  { name: 'notify: JSON array body', send: json('/notify', [ok]), field: 'userId' },
  { name: 'notify: empty userId', send: notifyWith({ userId: '' }), field: 'userId' },
  { name: 'notify: blank userId', send: notifyWith({ userId: '   ' }), field: 'userId' },
  { name: 'notify: userId array', send: notifyWith({ userId: ['a', 'b'] }), field: 'userId' },
  { name: 'notify: userId object', send: notifyWith({ userId: { id: 'a' } }), field: 'userId' },
  { name: 'notify: userId with spaces', send: notifyWith({ userId: 'taro yamada' }), field: 'userId' },
  { name: 'notify: userId too long', send: notifyWith({ userId: 'u'.repeat(65) }), field: 'userId' },
  { name: 'notify: userId null', send: notifyWith({ userId: null }), field: 'userId' },
  {
    name: 'notify: form with repeated userId',
    send: () =>
      call('POST', '/notify', {
        raw: 'userId=a&userId=b&message=m&phone=%2B819012345678',
        headers: { ...auth, 'Content-Type': 'application/x-www-form-urlencoded' },
      }),
    field: 'userId',
  },
  { name: 'notify: message missing', send: notifyWith({ message: undefined }), field: 'message' },
  { name: 'notify: message empty', send: notifyWith({ message: '' }), field: 'message' },
  { name: 'notify: message over 1600 characters', send: notifyWith({ message: 'あ'.repeat(1601) }), field: 'message' },
  { name: 'notify: message array', send: notifyWith({ message: ['a'] }), field: 'message' },
  { name: 'notify: message object', send: notifyWith({ message: { text: 'a' } }), field: 'message' },
  // text must be text: a JSON number or boolean is not a message (it once sent a call reading "12345")
  { name: 'notify: message a JSON number', send: notifyWith({ message: 12345 }), field: 'message' },
  { name: 'notify: message a JSON boolean', send: notifyWith({ message: true }), field: 'message' },
  { name: 'notify: subject a JSON number', send: notifyWith({ subject: 1 }), field: 'subject' },
  { name: 'notify: firstName a JSON number', send: notifyWith({ firstName: 7 }), field: 'firstName' },
  { name: 'notify: phone a JSON number', send: notifyWith({ phone: 819012345678 }), field: 'phone' },
  { name: 'notify: userId a JSON number', send: notifyWith({ userId: 42 }), field: 'userId' },
  { name: 'notify: locale a JSON boolean', send: notifyWith({ locale: false }), field: 'locale' },
  { name: 'notify: unknown channel', send: notifyWith({ channel: 'fax' }), field: 'channel' },
  { name: 'notify: channel array', send: notifyWith({ channel: ['sms'] }), field: 'channel' },
  { name: 'notify: phone too short', send: notifyWith({ phone: '090-12' }), field: 'phone' },
  { name: 'notify: phone letters', send: notifyWith({ phone: 'call me' }), field: 'phone' },
  { name: 'notify: phone array', send: notifyWith({ phone: ['+819012345678'] }), field: 'phone' },
  { name: 'notify: email without domain', send: notifyWith({ email: 'taro@' }), field: 'email' },
  { name: 'notify: email object', send: notifyWith({ email: { address: 'a@b.co' } }), field: 'email' },
  { name: 'notify: locale not a tag', send: notifyWith({ locale: 'japanese please' }), field: 'locale' },
  { name: 'notify: notificationId with a slash', send: notifyWith({ notificationId: 'a/b' }), field: 'notificationId' },
  {
    name: 'notify: notificationId too long',
    send: notifyWith({ notificationId: 'n'.repeat(65) }),
    field: 'notificationId',
  },
  { name: 'notify: subject too long', send: notifyWith({ subject: 's'.repeat(256) }), field: 'subject' },
  { name: 'notify: sendAt without offset', send: notifyWith({ sendAt: '2026-12-01T09:00:00' }), field: 'sendAt' },
  { name: 'notify: sendAt not a time', send: notifyWith({ sendAt: 'tomorrow' }), field: 'sendAt' },
  {
    name: 'notify: sendAt impossible date',
    send: notifyWith({ sendAt: '2026-13-45T09:00:00+09:00' }),
    field: 'sendAt',
  },
  {
    name: 'notify: escalation with an unknown channel',
    send: notifyWith({ escalation: 'call,fax' }),
    field: 'escalation',
  },
  { name: 'notify: escalation repeating a channel', send: notifyWith({ escalation: 'sms,sms' }), field: 'escalation' },
  { name: 'notify: escalation object', send: notifyWith({ escalation: { first: 'sms' } }), field: 'escalation' },
  {
    name: 'notify: escalateAfter under 15 minutes',
    send: notifyWith({ escalation: 'sms,email', escalateAfter: 5 }),
    field: 'escalateAfter',
  },
  {
    name: 'notify: escalateAfter not a number',
    send: notifyWith({ escalation: 'sms,email', escalateAfter: 'soon' }),
    field: 'escalateAfter',
  },
  { name: 'notify: urgent not a boolean', send: notifyWith({ urgent: 'maybe' }), field: 'urgent' },
  { name: 'notify: quietHours malformed', send: notifyWith({ quietHours: '25:00-08:00' }), field: 'quietHours' },
  {
    name: 'notify: escalation content too large for its Sync record',
    send: notifyWith({ escalation: 'sms,email', html: `<p>${'長'.repeat(5000)}</p>` }),
    field: 'html',
  },
  { name: 'channel: userId missing', send: () => call('GET', '/channel', { headers: auth }), field: 'userId' },
  {
    name: 'channel: unknown channel',
    send: () => call('GET', '/channel?userId=u1&channel=pigeon', { headers: auth }),
    field: 'channel',
  },
  {
    name: 'channel: invalid email',
    send: () => call('GET', '/channel?userId=u1&email=nope', { headers: auth }),
    field: 'email',
  },
  { name: 'cancel: notificationId missing', send: json('/cancel', {}), field: 'notificationId' },
  { name: 'cancel: notificationId array', send: json('/cancel', { notificationId: ['a'] }), field: 'notificationId' },
  {
    name: 'cancel: unknown notification',
    send: json('/cancel', { notificationId: 'never-sent' }),
    field: 'notificationId',
    status: 404,
  },
  {
    name: 'notification: notificationId missing',
    send: () => call('GET', '/notification', { headers: auth }),
    field: 'notificationId',
  },
  {
    name: 'notification: unknown notification',
    send: () => call('GET', '/notification?notificationId=never-sent', { headers: auth }),
    field: 'notificationId',
    status: 404,
  },
  { name: 'email/events: an object, not an array', send: () => emailEvents({ event: 'open' }), field: 'body' },
  {
    name: 'email/events: a string body',
    send: () =>
      call('POST', '/email/events', {
        raw: 'open',
        headers: {
          'Content-Type': 'text/plain',
          Authorization: `Basic ${Buffer.from('sendgrid:sandbox-webhook-password').toString('base64')}`,
        },
      }),
    field: 'body',
  },
  {
    name: 'sms/status: MessageSid missing',
    send: () => signedPost(`/sms/status${CTX}`, { MessageStatus: 'delivered' }),
    field: 'MessageSid',
  },
  {
    name: 'sms/status: MessageSid malformed',
    send: () => signedPost(`/sms/status${CTX}`, { MessageSid: 'SM123', MessageStatus: 'delivered' }),
    field: 'MessageSid',
  },
  {
    name: 'sms/status: MessageStatus missing',
    send: () => signedPost(`/sms/status${CTX}`, { MessageSid: `SM${'a'.repeat(32)}` }),
    field: 'MessageStatus',
  },
  {
    name: 'sms/status: no notification context',
    send: () => signedPost('/sms/status', { MessageSid: `SM${'a'.repeat(32)}`, MessageStatus: 'delivered' }),
    field: 'notificationId',
  },
  {
    name: 'sms/inbound: MessageSid missing',
    send: () => signedPost('/sms/inbound', { From: '+819012345678', Body: 'hi' }),
    twiml: true,
  },
  {
    name: 'sms/inbound: From missing',
    send: () => signedPost('/sms/inbound', { MessageSid: `SM${'b'.repeat(32)}`, Body: 'hi' }),
    twiml: true,
  },
  {
    name: 'voice/status: CallSid missing',
    send: () => signedPost(`/voice/status${VCTX}`, { CallStatus: 'completed' }),
    field: 'CallSid',
  },
  {
    name: 'voice/status: CallStatus missing',
    send: () => signedPost(`/voice/status${VCTX}`, { CallSid: `CA${'c'.repeat(32)}` }),
    field: 'CallStatus',
  },
  {
    name: 'voice/gather: CallSid missing',
    send: () => signedPost(`/voice/gather${VCTX}`, { Digits: '1' }),
    twiml: true,
  },
  {
    name: 'voice/gather: no notification context',
    send: () => signedPost('/voice/gather', { CallSid: `CA${'c'.repeat(32)}`, Digits: '1' }),
    twiml: true,
  },
];

beforeAll(() => sandbox.reset(false));

test('the table holds at least 40 malformed requests', () => expect(cases.length).toBeGreaterThanOrEqual(40));

test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  const res = await c.send();
  expect(res.status).toBe(c.status ?? 400);
  expect(res.text).not.toMatch(/\bat \S+ \(|Error:|stack/i);
  if (c.twiml) {
    expect(res.headers.get('content-type')).toMatch(/text\/xml/);
    expect(res.text).toMatch(/^<\?xml[^>]*\?><Response\/>$/);
  } else {
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(res.body).toEqual({ error: { code: expect.any(String), message: expect.any(String), field: c.field } });
  }
});

test('malformed JSON is refused by the runtime before our code runs: a 400 without a stack trace', async () => {
  const res = await call('POST', '/notify', {
    raw: '{"userId": "u1", "message": ',
    headers: { ...auth, 'Content-Type': 'application/json' },
  });
  expect(res.status).toBe(400);
  expect(res.text).not.toMatch(/\bat \S+ \(|SyntaxError/);
});

test('nothing was sent and nothing was tracked', async () => {
  expect(await sandbox.messages()).toEqual([]);
  expect(await sandbox.calls()).toEqual([]);
  expect(await sandbox.emails()).toEqual([]);
  expect(await sandbox.events()).toEqual([]);
  expect(await sandbox.documents()).toEqual([]);
});
