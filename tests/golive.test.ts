/** The pure parts of going live: the .env file, masking, a notification's outcome, Studio's rules. */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { routedPath } from '../sandbox/server';
import { conditionHolds, validateDefinition } from '../sandbox/studio';
import { deployEnv, deployedKeys, maskSecret, maskUrl, readEnvFile, writeEnvFile } from '../src/golive/env-file';
import { OUTCOMES, outcomeOf } from '../src/lib/app/journey/endpoints';
import type { NotificationRecord } from '../src/lib/store/records';

describe('.env, as setup writes it', () => {
  it('is written whole (a temporary file renamed over it) and readable by its owner only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'env-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'ACCOUNT_SID=AC1\n', { mode: 0o644 });
    writeEnvFile(file, { NOTIFY_API_KEY: 'k' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['.env']); // no temporary file left
  });

  it('a key set twice is refused with the key named (dotenv would read the first, setup would write anew each run)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'env-')), '.env');
    writeFileSync(file, 'NOTIFY_API_KEY=abc\nDEFAULT_LOCALE=ja-JP\nNOTIFY_API_KEY=\n');
    expect(() => readEnvFile(file)).toThrow(/NOTIFY_API_KEY is set more than once/);
    expect(() => writeEnvFile(file, { SYNC_SERVICE_SID: 'IS1' })).toThrow(/NOTIFY_API_KEY/);
    expect(readFileSync(file, 'utf8')).toBe('NOTIFY_API_KEY=abc\nDEFAULT_LOCALE=ja-JP\nNOTIFY_API_KEY=\n');
  });

  it('npm run deploy uploads only what the service reads, with the credentials twilio-run deploys with', () => {
    const keys = deployedKeys(join(__dirname, '..', '.env.example'));
    const { text, left } = deployEnv(
      {
        ACCOUNT_SID: 'AC1',
        AUTH_TOKEN: 't',
        NOTIFY_API_KEY: 'k',
        SEGMENT_PUBLIC_API_TOKEN: 'owner',
        TWILIO_API_BASE_URL: 'http://127.0.0.1:3001',
        SOMETHING_ELSE: 'x',
        DEFAULT_LOCALE: '',
      },
      keys,
    );
    expect(text).toBe('NOTIFY_API_KEY=k\nACCOUNT_SID=AC1\nAUTH_TOKEN=t\n');
    expect(left).toEqual(['SEGMENT_PUBLIC_API_TOKEN', 'TWILIO_API_BASE_URL', 'SOMETHING_ELSE']);
  });

  it('replaces a key where it is, appends a new one, keeps comments and order, quotes what needs it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'env-')), '.env');
    writeFileSync(file, '# mine\nACCOUNT_SID=AC1\nNOTIFY_API_KEY=\n\n# later\nDEFAULT_LOCALE=ja-JP\n');
    writeEnvFile(file, { NOTIFY_API_KEY: 'k-1_2', SYNC_SERVICE_SID: 'IS9', MESSAGE: 'two words' });
    expect(readFileSync(file, 'utf8')).toBe(
      '# mine\nACCOUNT_SID=AC1\nNOTIFY_API_KEY=k-1_2\n\n# later\nDEFAULT_LOCALE=ja-JP\nSYNC_SERVICE_SID=IS9\nMESSAGE="two words"\n',
    );
    expect(readEnvFile(file)).toMatchObject({ NOTIFY_API_KEY: 'k-1_2', MESSAGE: 'two words', SYNC_SERVICE_SID: 'IS9' });
  });

  it('deploys what .env.example lists, but not the credentials Functions provide nor sandbox-only settings', () => {
    const keys = deployedKeys(join(__dirname, '..', '.env.example'));
    expect(keys).toEqual(
      expect.arrayContaining([
        'NOTIFY_API_KEY',
        'MESSAGING_SERVICE_SID',
        'SYNC_SERVICE_SID',
        'SENDGRID_WEBHOOK_PASSWORD',
      ]),
    );
    for (const k of [
      'ACCOUNT_SID',
      'AUTH_TOKEN',
      'TWILIO_API_BASE_URL',
      'SANDBOX_CLOCK_FILE',
      'SEGMENT_PUBLIC_API_TOKEN',
    ])
      expect(keys).not.toContain(k);
  });

  it('never prints a secret in full', () => {
    expect(maskSecret('abcdefghijklmnopqrstuvwxyz012345')).toBe('abcd…(32 chars)');
    expect(maskSecret('short')).toBe('…');
    expect(maskUrl('https://sendgrid:abcdefghijklmnop@x.twil.io/email/events')).toBe(
      'https://sendgrid:abcd…(16 chars)@x.twil.io/email/events',
    );
  });
});

describe("a notification's outcome (what Studio branches on)", () => {
  const record = (state: NotificationRecord['state'], statuses: string[]) =>
    ({ state, steps: statuses.map((status) => ({ status })) }) as unknown as NotificationRecord;
  it.each([
    ['completed', ['DELIVERED'], 'engaged'],
    ['canceled', ['CANCELED'], 'canceled'],
    ['done', ['FAILED'], 'failed'],
    ['done', ['FAILED', 'CANCELED'], 'failed'],
    ['done', ['DELIVERED'], 'pending'],
    ['done', ['FAILED', 'SCHEDULED'], 'pending'],
    ['in_progress', ['FAILED'], 'pending'],
    ['suppressed', [], 'suppressed'],
  ] as const)('%s with %j is %s', (state, statuses, outcome) => {
    expect(outcomeOf(record(state, [...statuses]))).toBe(outcome);
  });

  it('the committed Studio flow has a branch for every outcome but pending (which polls again)', () => {
    const flow = JSON.parse(readFileSync(join(__dirname, '../studio/notify.flow.json'), 'utf8'));
    const split = flow.states.find((st: { name: string }) => st.name === 'branch_on_outcome');
    const matched = split.transitions
      .flatMap((t: { conditions?: Array<{ value: string }> }) => t.conditions ?? [])
      .flatMap((c: { value: string }) => c.value.split(','));
    expect([...matched].sort()).toEqual(OUTCOMES.filter((o) => o !== 'pending').sort());
  });
});

describe("the sandbox's Studio rules", () => {
  const def = (states: unknown[], initial = 'Trigger') => ({ states, initial_state: initial });
  const trigger = { name: 'Trigger', type: 'trigger', transitions: [{ event: 'incomingRequest', next: 'ask' }] };
  it('accepts a well-formed flow', () => {
    const ask = {
      name: 'ask',
      type: 'make-http-request',
      properties: { method: 'GET', url: 'https://x', content_type: 'application/json' },
      transitions: [],
    };
    expect(validateDefinition(def([trigger, ask]))).toEqual([]);
  });
  it('names each refusal with its property path', () => {
    const errors = validateDefinition(
      def(
        [
          trigger,
          { name: 'ask', type: 'make-http-request', properties: { method: 'GET' } },
          { name: 'ask', type: 'nope' },
        ],
        'Start',
      ),
    );
    expect(errors.map((e) => e.property_path)).toEqual(
      expect.arrayContaining([
        '#/initial_state',
        '#/states/2/name',
        '#/states/2/type',
        '#/states/1/properties/url',
        '#/states/1/properties/content_type',
      ]),
    );
    expect(
      validateDefinition(def([{ name: 'a', type: 'set-variables', properties: { variables: [] } }], 'a'))[0].message,
    ).toMatch(/exactly one trigger/);
  });
  it("compares as Studio's split does", () => {
    expect(conditionHolds('equal_to', 'Engaged', 'engaged')).toBe(true);
    expect(conditionHolds('matches_any_of', 'canceled', 'failed, canceled')).toBe(true);
    expect(conditionHolds('less_than', '-1', '0')).toBe(true);
    expect(conditionHolds('less_than', '0', '0')).toBe(false);
    expect(conditionHolds('is_blank', '  ', '')).toBe(true);
  });
});

describe("the sandbox's one port for Twilio's hosts", () => {
  it('routes the products that share /v1/Services by the host the client meant', () => {
    expect(routedPath('/v1/Services', 'messaging.twilio.com')).toBe('/messaging/v1/Services');
    expect(routedPath('/v1/Services/ZS1/Environments', 'serverless.twilio.com')).toBe(
      '/serverless/v1/Services/ZS1/Environments',
    );
    expect(routedPath('/v2/Flows', 'studio.twilio.com')).toBe('/studio/v2/Flows');
    expect(routedPath('/v1/Services/default/Documents', 'sync.twilio.com')).toBe('/v1/Services/default/Documents');
    expect(routedPath('/v1/Services/default/Documents', undefined)).toBe('/v1/Services/default/Documents');
  });
});
