/**
 * Property-based fuzzing of every endpoint through the running functions
 * (fast-check): random parameters (known names and others; strings with
 * control and non-BMP characters, numbers, booleans, nulls, arrays, objects),
 * as JSON or as a form, with no credentials, wrong ones or the right ones.
 * Whatever comes in: never a 5xx, never a stack trace, and a refused request
 * (4xx) never sends anything nor reaches Segment. Each key only where it may
 * go; SendGrid batches of forged and oversized events credit nobody.
 */
import fc from 'fast-check';
import twilio from 'twilio';
import { SANDBOX_DEFAULTS } from '../sandbox/settings';
import { AUTH_TOKEN, API_KEY, call, emailEvents, sandbox, stack } from './helpers';

const NAMES = [
  'userId',
  'message',
  'phone',
  'email',
  'channel',
  'notificationId',
  'locale',
  'sendAt',
  'escalation',
  'escalateAfter',
  'urgent',
  'quietHours',
  'since',
  'within',
  'at',
  'subject',
  'html',
  'firstName',
  'lastName',
  'MessageSid',
  'MessageStatus',
  'CallSid',
  'CallStatus',
  'Digits',
  'From',
  'To',
  'Body',
  'ErrorCode',
  'AnsweredBy',
];

const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.fullUnicodeString({ maxLength: 30 }),
  fc.constantFrom(
    '',
    ' ',
    '+819012345678',
    '090-1234-5678',
    'a@example.jp',
    'sms',
    'call',
    'email',
    'ja-JP',
    '\u0000',
    '\uD800',
    '=1+1',
    '<Say>x</Say>',
    '2026-12-01T09:00:00+09:00',
    'true',
    '-1',
    '99999999999999999999',
  ),
);
const value = fc.oneof(
  { weight: 6, arbitrary: text },
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(text, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), text, { maxKeys: 3 }),
);
const params = fc.dictionary(fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 8 })), value, { maxKeys: 8 });

type Auth = 'none' | 'wrong' | 'right';
const ENDPOINTS: Array<{ path: string; kind: 'api' | 'twilio' | 'sendgrid' }> = [
  { path: '/notify', kind: 'api' },
  { path: '/channel', kind: 'api' },
  { path: '/cancel', kind: 'api' },
  { path: '/notification', kind: 'api' },
  { path: '/recover', kind: 'api' },
  { path: '/insights', kind: 'api' },
  { path: '/email/events', kind: 'sendgrid' },
  { path: '/sms/status', kind: 'twilio' },
  { path: '/sms/inbound', kind: 'twilio' },
  { path: '/voice/status', kind: 'twilio' },
  { path: '/voice/gather', kind: 'twilio' },
];

function headersFor(kind: string, auth: Auth, path: string, form: Record<string, string>): Record<string, string> {
  if (auth === 'none') return {};
  if (kind === 'api') return { Authorization: `Bearer ${auth === 'right' ? API_KEY : 'wrong-key'}` };
  if (kind === 'sendgrid') {
    const pass = auth === 'right' ? SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_PASSWORD : 'wrong';
    return { Authorization: `Basic ${Buffer.from(`sendgrid:${pass}`).toString('base64')}` };
  }
  const token = auth === 'right' ? AUTH_TOKEN : 'f'.repeat(32);
  return { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(token, `${stack.functionsUrl}${path}`, form) };
}

/** What was sent and tracked so far. */
async function footprint(): Promise<number[]> {
  const [m, c, e, s] = await Promise.all([sandbox.messages(), sandbox.calls(), sandbox.emails(), sandbox.events()]);
  return [m.length, c.length, e.length, s.length];
}

const STACK_TRACE = /\n\s+at |at [\w.<>]+ \(|node:internal|\.js:\d+:\d+/;

beforeAll(() => sandbox.reset(false));

test.each(ENDPOINTS)(
  '$path: never a 5xx, never a stack trace, nothing sent or tracked by a refused request',
  async ({ path, kind }) => {
    await fc.assert(
      fc.asyncProperty(
        params,
        fc.constantFrom<Auth>('none', 'wrong', 'right'),
        fc.boolean(),
        async (fields, auth, asJson) => {
          // a form carries strings only; the signature is over what is posted
          const form = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
          const headers = headersFor(kind, auth, path, asJson ? {} : form);
          const before = await footprint();
          const res = asJson
            ? await call('POST', path, { json: kind === 'sendgrid' ? [fields] : fields, headers })
            : await call('POST', path, { form, headers });
          expect(res.status).toBeLessThan(500);
          expect(res.text).not.toMatch(STACK_TRACE);
          if (res.status >= 400) {
            await sandbox.settle();
            expect(await footprint()).toEqual(before);
          }
        },
      ),
      { numRuns: 40, seed: 20261130 },
    );
  },
  120_000,
);

test.each([
  ['STUDIO_API_KEY (Basic studio:…)', 'studio', ['/notify', '/notification']],
  ['INSIGHTS_API_KEY (Bearer)', 'insights', ['/insights']],
] as const)(
  '%s opens its endpoints only: elsewhere a 401 that sends and tracks nothing',
  async (_name, key, allowed) => {
    const header =
      key === 'studio'
        ? `Basic ${Buffer.from(`studio:${SANDBOX_DEFAULTS.STUDIO_API_KEY}`).toString('base64')}`
        : `Bearer ${SANDBOX_DEFAULTS.INSIGHTS_API_KEY}`;
    const apis = ENDPOINTS.filter((e) => e.kind === 'api').map((e) => e.path);
    await fc.assert(
      fc.asyncProperty(params, fc.constantFrom(...apis), async (fields, path) => {
        const form = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)]));
        const before = await footprint();
        const res = await call('POST', path, { form, headers: { Authorization: header } });
        expect(res.status).toBeLessThan(500);
        if (!(allowed as readonly string[]).includes(path)) {
          expect(res.status).toBe(401);
          await sandbox.settle();
          expect(await footprint()).toEqual(before);
        }
      }),
      { numRuns: 30, seed: 20261206 },
    );
  },
  120_000,
);

test('SendGrid batches of forged and oversized events (signed, as SendGrid would post them): answered 2xx, nobody credited', async () => {
  const huge = fc.constantFrom('x'.repeat(20_000), 'https://example.com/'.padEnd(50_000, 'q'), '日本語'.repeat(3_000));
  const field = fc.oneof(text, huge, fc.integer(), fc.constant(null));
  const event = fc.record(
    {
      event: fc.oneof(fc.constantFrom('open', 'click', 'bounce', 'unsubscribe', 'delivered', 'processed'), text),
      sg_event_id: fc.oneof(fc.uuid(), field),
      notification_id: fc.oneof(fc.constantFrom('n-1', 'never-sent'), field),
      user_id: fc.oneof(fc.constantFrom('taro', 'hanako'), field),
      binding: fc.oneof(fc.constant('AAAAAAAAAAAA'), field),
      reason: field,
      url: field,
      type: field,
      timestamp: fc.oneof(fc.integer(), fc.double(), text),
      sg_machine_open: fc.oneof(fc.boolean(), text),
    },
    { requiredKeys: [] },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(event, { minLength: 1, maxLength: 12 }), async (batch) => {
      const before = await footprint();
      const res = await emailEvents(batch, undefined, { bind: false });
      expect(res.status).toBe(200);
      expect(res.text).not.toMatch(STACK_TRACE);
      expect(res.body.tracked).toBe(0);
      await sandbox.settle();
      expect(await footprint()).toEqual(before);
    }),
    { numRuns: 30, seed: 20261206 },
  );
}, 120_000);
