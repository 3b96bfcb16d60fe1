/**
 * Going live: `npm run setup` and `npm run doctor` against a sandbox account that starts as a
 * real one does after `npm run deploy` (a bought number and the deployed service, nothing else),
 * and the committed Studio flow, validated and run by the sandbox's Studio against the functions.
 * A stack of this suite's own: it changes the account's wiring, which no other suite may see.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'dotenv';
import type twilio from 'twilio';
import { sandboxFunctionEnv } from '../sandbox/launch';
import { SANDBOX_DEFAULTS } from '../sandbox/settings';
import { sandboxTemplateSid } from '../sandbox/whatsapp';
import { twilioRestClient } from '../src/lib/clients/twilio';
import { Deadline } from '../src/lib/deadline';
import { Upstream } from '../src/lib/upstream';
import { ownStack } from './helpers';

jest.setTimeout(120_000);
const root = join(__dirname, '..');
let c: Awaited<ReturnType<typeof ownStack>>;
let sandboxUrl: string;
let envFile: string;
let rest: twilio.Twilio;
const PHONE = SANDBOX_DEFAULTS.TWILIO_PHONE_NUMBER;

/** runs `npm run setup|doctor -- args` with the suite's .env: its exit code and what it printed */
function golive(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'scripts/golive.mjs'), ...args, '--env-file', envFile],
      { cwd: root, timeout: 90_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}
const env = () => parse(readFileSync(envFile, 'utf8'));
const account = () => c.sb('GET', '/sandbox/account');
const sendgrid = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${sandboxUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${SANDBOX_DEFAULTS.SENDGRID_API_KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
};

beforeAll(async () => {
  c = await ownStack(() => ({ SANDBOX_ACCOUNT: 'empty', SANDBOX_CALLBACK_DELAY_MS: '20' }));
  sandboxUrl = c.urls.sandboxUrl;
  // what a user's .env holds before going live: credentials, the number, no generated secret, no SIDs
  const base = sandboxFunctionEnv(sandboxUrl);
  const {
    NOTIFY_API_KEY: _k,
    STUDIO_API_KEY: _s,
    INSIGHTS_API_KEY: _i,
    SENDGRID_WEBHOOK_PASSWORD: _p,
    SENDGRID_WEBHOOK_PUBLIC_KEY: _w,
    MESSAGING_SERVICE_SID: _m,
    // WhatsApp is gone live with apart (its own test below)
    WHATSAPP_SENDER: _ws,
    WHATSAPP_TEMPLATE_APPOINTMENT_REMINDER: _wt1,
    WHATSAPP_TEMPLATE_PAYMENT_DUE: _wt2,
    ...kept
  } = base;
  envFile = join(mkdtempSync(join(tmpdir(), 'golive-')), '.env');
  writeFileSync(
    envFile,
    `# my settings\n${Object.entries({
      ...kept,
      SEGMENT_PUBLIC_API_TOKEN: SANDBOX_DEFAULTS.SEGMENT_PUBLIC_API_TOKEN,
      SEGMENT_PUBLIC_API_BASE_URL: sandboxUrl,
    })
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
  // the project's own client (it names the Twilio host it meant, as the sandbox needs), unhurried
  rest = twilioRestClient(
    SANDBOX_DEFAULTS.ACCOUNT_SID,
    SANDBOX_DEFAULTS.AUTH_TOKEN,
    sandboxUrl,
    new Upstream(new Deadline(600_000)),
  );
}, 120_000);
afterAll(() => c?.stop());

describe('an empty account (a number and the deployed service)', () => {
  it('drops incoming SMS, and doctor finds every missing piece (exit 1)', async () => {
    expect((await c.sandbox.inboundSms('+818011110000', 'hello')).delivered).toBe('dropped');
    const { code, out } = await golive(['doctor']);
    expect(code).toBe(1);
    for (const what of [
      'Sync service: missing',
      'Messaging Service: missing',
      `Phone number ${PHONE}`,
      'SendGrid Event Webhook: missing',
      'SendGrid open tracking: off',
      'SendGrid click tracking: off',
      'Segment computed trait preferred_channel: missing',
      'Deployed variables',
      '.env: NOTIFY_API_KEY, STUDIO_API_KEY, INSIGHTS_API_KEY, SENDGRID_WEBHOOK_PASSWORD not set',
    ])
      expect(out).toContain(what);
    expect(out).toContain('/health: answers 200');
  });

  it('--dry-run prints the plan and changes nothing, neither the account nor .env', async () => {
    const before = [await account(), readFileSync(envFile, 'utf8')];
    const { code, out } = await golive(['setup', '--dry-run']);
    expect(out).toContain('Dry run:');
    expect(out).toMatch(
      /\+ Messaging Service: "channel-optimized-notifications", inbound request URL http:\/\/localhost:\d+\/sms\/inbound#rc=3&rp=5xx,ct,rt/,
    );
    expect(code).toBe(1); // tracking is off: a problem setup leaves to the user unless asked
    expect([await account(), readFileSync(envFile, 'utf8')]).toEqual(before);
  });
});

describe('setup', () => {
  it('wires everything from the empty account, and writes what it set to .env', async () => {
    const { code, out } = await golive(['setup', '--enable-tracking']);
    expect(out).toContain('Done:');
    expect(code).toBe(0);
    const e = env();
    expect(readFileSync(envFile, 'utf8')).toMatch(/^# my settings/); // the user's file, kept
    expect(e.NOTIFY_API_KEY).toMatch(/^[\w-]{32}$/);
    expect(e.SENDGRID_WEBHOOK_PASSWORD).toMatch(/^[\w-]{32}$/);
    expect(e.MESSAGING_SERVICE_SID).toMatch(/^MG/);
    expect(e.SYNC_SERVICE_SID).toMatch(/^IS/);
    // no secret printed in full
    expect(out).not.toContain(e.NOTIFY_API_KEY);
    expect(out).not.toContain(e.SENDGRID_WEBHOOK_PASSWORD);

    const a = await account();
    const ms = a.messagingServices.find((s: { sid: string }) => s.sid === e.MESSAGING_SERVICE_SID);
    expect(ms.inbound_request_url).toBe(`${c.urls.functionsUrl}/sms/inbound#rc=3&rp=5xx,ct,rt`);
    expect(ms.numbers).toEqual([a.numbers[0].sid]);
    // the account's default Sync Service (every account has one) and the one setup created
    expect(a.syncServices.map((s: { friendly_name: string }) => s.friendly_name)).toEqual([
      'default',
      expect.any(String),
    ]);
    expect(a.syncServices[1].sid).toBe(e.SYNC_SERVICE_SID);
    const [hook] = a.eventWebhooks;
    expect(hook.enabled).toBe(true);
    expect(hook.url).toContain(`sendgrid:${e.SENDGRID_WEBHOOK_PASSWORD}@`);
    for (const ev of ['processed', 'delivered', 'open', 'click', 'bounce', 'dropped', 'spam_report', 'unsubscribe'])
      expect(hook[ev]).toBe(true);
    // signed, and its verification key kept in .env (and deployed below)
    expect(hook.public_key).toMatch(/^MFkw/);
    expect(e.SENDGRID_WEBHOOK_PUBLIC_KEY).toBe(hook.public_key);
    expect(a.tracking).toEqual({ open: true, click: true });
    expect(a.computedTraits.map((t: { key: string }) => t.key)).toEqual(['preferred_channel']);
    const vars = Object.fromEntries(
      a.serverless[0].environments[0].variables.map((v: { key: string; value: string }) => [v.key, v.value]),
    );
    for (const key of [
      'NOTIFY_API_KEY',
      'SENDGRID_WEBHOOK_PASSWORD',
      'MESSAGING_SERVICE_SID',
      'SYNC_SERVICE_SID',
      'SENDGRID_API_KEY',
      'SENDGRID_WEBHOOK_PUBLIC_KEY',
    ])
      expect(vars[key]).toBe(e[key]);
    // nothing setup must not deploy: credentials Functions provide, and sandbox-only settings
    for (const key of ['ACCOUNT_SID', 'AUTH_TOKEN', 'TWILIO_API_BASE_URL', 'SEGMENT_PUBLIC_API_TOKEN'])
      expect(vars[key]).toBeUndefined();

    // and the account now does what it did not: an incoming SMS reaches the service
    expect((await c.sandbox.inboundSms('+818011110000', 'hello')).delivered).toBe(200);
  });

  it('a second run changes nothing and says so; doctor finds all well', async () => {
    const before = [await account(), readFileSync(envFile, 'utf8')];
    const again = await golive(['setup']);
    expect(again.out).toContain('Nothing to change: everything is wired.');
    expect(again.code).toBe(0);
    expect([await account(), readFileSync(envFile, 'utf8')]).toEqual(before);
    const doctor = await golive(['doctor']);
    expect(doctor.out).toContain('All is well.');
    expect(doctor.code).toBe(0);
  });
});

describe('doctor finds each misconfiguration, and setup repairs it', () => {
  const cases: Array<[string, () => Promise<unknown>, RegExp, string[]?]> = [
    [
      'the Messaging Service pointing elsewhere',
      () =>
        rest.messaging.v1
          .services(env().MESSAGING_SERVICE_SID)
          .update({ inboundRequestUrl: 'https://other.example.com/sms' }),
      /✗ Messaging Service MG\w+: inbound request URL points elsewhere: https:\/\/other\.example\.com\/sms/,
    ],
    [
      'the Messaging Service with no inbound URL',
      () => rest.messaging.v1.services(env().MESSAGING_SERVICE_SID).update({ inboundRequestUrl: '' }),
      /✗ Messaging Service MG\w+: no inbound request URL: every incoming SMS is dropped/,
    ],
    [
      'a service deferring to a number with no SMS URL',
      () => rest.messaging.v1.services(env().MESSAGING_SERVICE_SID).update({ useInboundWebhookOnNumber: true }),
      /✗ Phone number \+\d+ SMS URL: empty: incoming SMS are dropped/,
    ],
    [
      'the number not in the Messaging Service',
      async () => {
        const [n] = await rest.incomingPhoneNumbers.list({ phoneNumber: PHONE });
        await rest.messaging.v1.services(env().MESSAGING_SERVICE_SID).phoneNumbers(n.sid).remove();
      },
      /✗ Phone number \+\d+: added as a sender of MG\w+\n\s+→ not in the Messaging Service/,
    ],
    [
      'the SendGrid webhook disabled',
      async () => {
        const hook = (await account()).eventWebhooks[0];
        return sendgrid('PATCH', `/v3/user/webhooks/event/settings/${hook.id}`, { url: hook.url, enabled: false });
      },
      /✗ SendGrid Event Webhook \w+: disabled/,
    ],
    [
      'the SendGrid webhook missing events',
      async () => {
        const hook = (await account()).eventWebhooks[0];
        return sendgrid('PATCH', `/v3/user/webhooks/event/settings/${hook.id}`, {
          url: hook.url,
          open: false,
          click: false,
        });
      },
      /✗ SendGrid Event Webhook \w+: missing events open, click/,
    ],
    [
      "the SendGrid webhook's signing turned off",
      async () =>
        sendgrid('PATCH', `/v3/user/webhooks/event/settings/signed/${(await account()).eventWebhooks[0].id}`, {
          enabled: false,
        }),
      /✗ SendGrid Event Webhook \w+ signing: off → on: unsigned, anyone holding the webhook's credentials can post events/,
    ],
    [
      'the SendGrid webhook with wrong credentials',
      async () => {
        const hook = (await account()).eventWebhooks[0];
        return sendgrid('PATCH', `/v3/user/webhooks/event/settings/${hook.id}`, {
          url: hook.url.replace(/:[^:@/]+@/, ':stale@'),
        });
      },
      /✗ SendGrid Event Webhook \w+: credentials in its URL differ from \.env/,
    ],
    [
      'a deployed variable that differs from .env',
      async () => {
        const e = env();
        const [svc] = await rest.serverless.v1.services.list();
        const [environment] = await rest.serverless.v1.services(svc.sid).environments.list();
        const vars = await rest.serverless.v1.services(svc.sid).environments(environment.sid).variables.list();
        const v = vars.find((x) => x.key === 'NOTIFY_API_KEY');
        await rest.serverless.v1
          .services(svc.sid)
          .environments(environment.sid)
          .variables(v?.sid as string)
          .update({ value: `${e.NOTIFY_API_KEY}x` });
      },
      /✗ Deployed variables \(dev\): NOTIFY_API_KEY differs from \.env/,
    ],
    [
      "a deployed variable the service does not read (a deploy of .env's every line)",
      async () => {
        const [svc] = await rest.serverless.v1.services.list();
        const [environment] = await rest.serverless.v1.services(svc.sid).environments.list();
        await rest.serverless.v1
          .services(svc.sid)
          .environments(environment.sid)
          .variables.create({ key: 'SEGMENT_PUBLIC_API_TOKEN', value: 'workspace-owner-token' });
      },
      /✗ Deployed variables \(dev\) not read by the service: SEGMENT_PUBLIC_API_TOKEN: removed/,
    ],
  ];
  it.each(cases)('%s', async (_name, breakIt, found) => {
    await breakIt();
    const doctor = await golive(['doctor']);
    expect(doctor.out).toMatch(found);
    expect(doctor.code).toBe(1);
    const repaired = await golive(['setup']);
    expect(repaired.code).toBe(0);
    const after = await golive(['doctor']);
    expect(after.out).toContain('All is well.');
    expect(after.code).toBe(0);
  });

  it('a number held by another service: reported, moved only with --move-number', async () => {
    const other = await rest.messaging.v1.services.create({ friendlyName: 'someone else' });
    const [n] = await rest.incomingPhoneNumbers.list({ phoneNumber: PHONE });
    await rest.messaging.v1.services(env().MESSAGING_SERVICE_SID).phoneNumbers(n.sid).remove();
    await rest.messaging.v1.services(other.sid).phoneNumbers.create({ phoneNumberSid: n.sid });
    // the vendor's own refusal, as setup would meet it
    await expect(
      rest.messaging.v1.services(env().MESSAGING_SERVICE_SID).phoneNumbers.create({ phoneNumberSid: n.sid }),
    ).rejects.toMatchObject({ code: 21712 });
    const doctor = await golive(['doctor']);
    expect(doctor.out).toContain(`held by another Messaging Service (${other.sid})`);
    const refused = await golive(['setup']);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('--move-number');
    expect((await account()).messagingServices.find((s: { sid: string }) => s.sid === other.sid).numbers).toEqual([
      n.sid,
    ]);
    const moved = await golive(['setup', '--move-number']);
    expect(moved.code).toBe(0);
    const a = await account();
    expect(a.messagingServices.find((s: { sid: string }) => s.sid === other.sid).numbers).toEqual([]);
    expect(a.messagingServices.find((s: { sid: string }) => s.sid === env().MESSAGING_SERVICE_SID).numbers).toEqual([
      n.sid,
    ]);
  });

  it('a change the vendor refuses: setup names the resource, the error code and what to do, and stops', async () => {
    const sid = env().MESSAGING_SERVICE_SID;
    await rest.messaging.v1.services(sid).update({ inboundRequestUrl: 'https://other.example.com/sms' });
    await c.sandbox.fault({
      api: 'twilio',
      status: 400,
      count: 1,
      method: 'POST',
      path: `/messaging/v1/Services/${sid}`,
      body: { code: 21502, message: 'Invalid url', more_info: 'https://www.twilio.com/docs/errors/21502', status: 400 },
    });
    const refused = await golive(['setup']);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain(`✗ Messaging Service ${sid}: Twilio error 21502 (HTTP 400): Invalid url → `);
    expect(refused.out).toContain('Stopped at the failure above');
    const repaired = await golive(['setup']);
    expect(repaired.code).toBe(0);
  });

  it('no Sync service: a SYNC_SERVICE_SID the account does not have', async () => {
    const e = readFileSync(envFile, 'utf8');
    writeFileSync(envFile, e.replace(/^SYNC_SERVICE_SID=.*$/m, `SYNC_SERVICE_SID=IS${'0'.repeat(32)}`));
    const doctor = await golive(['doctor']);
    expect(doctor.out).toContain('SYNC_SERVICE_SID names a service this account does not have');
    expect(doctor.code).toBe(1);
    writeFileSync(envFile, e);
  });

  it('the deployed /health not answering', async () => {
    const domain = new URL(c.urls.functionsUrl).host;
    await c.sb('POST', '/sandbox/account/domain', { domain: '127.0.0.1:9' });
    const doctor = await golive(['doctor']);
    expect(doctor.out).toMatch(/✗ http:\/\/127\.0\.0\.1:9\/health: does not answer/);
    expect(doctor.code).toBe(1);
    await c.sb('POST', '/sandbox/account/domain', { domain });
  });

  it('dead letters are reported with what to do, until they are retried or dropped', async () => {
    const sync = rest.sync.v1.services(env().SYNC_SERVICE_SID);
    const letter = {
      parcel: 'parcel-abc-w0',
      kind: 'work',
      items: 1,
      tries: 8,
      error: 'records: 54006',
      at: new Date().toISOString(),
    };
    await sync.documents.create({ uniqueName: 'dead-letters', data: { entries: [letter] } });
    const doctor = await golive(['doctor']);
    expect(doctor.out).toMatch(
      /✗ Dead letters: 1 parcel recovery gave up on \(work ×1: records: 54006\)\n\s+→ npm run dead-letters/,
    );
    expect(doctor.code).toBe(1);
    await sync.documents('dead-letters').remove();
    expect((await golive(['doctor'])).code).toBe(0);
  });
});

describe('the Studio flow', () => {
  const flowFile = readFileSync(join(root, 'studio/notify.flow.json'), 'utf8');

  it('the committed flow validates; Studio refuses broken definitions, naming what is wrong', async () => {
    const validate = (definition: unknown) =>
      rest.studio.v2.flowValidate.update({ friendlyName: 'x', status: 'published', definition });
    expect(await validate(JSON.parse(flowFile))).toMatchObject({ valid: true });
    const broken = (edit: (d: any) => void) => {
      const d = JSON.parse(flowFile);
      edit(d);
      return validate(d).then(
        () => 'valid',
        (err: { code: number; details: { errors: Array<{ message: string }> } }) =>
          `${err.code} ${err.details.errors.map((x) => x.message).join('; ')}`,
      );
    };
    expect(await broken((d) => (d.states[3].transitions[0].next = 'nowhere'))).toMatch(
      /^20001 notify: transition success points to nowhere/,
    );
    expect(await broken((d) => (d.states[3].type = 'make-http-requests'))).toMatch(
      /unknown widget type make-http-requests/,
    );
    expect(await broken((d) => delete d.states[3].properties.url)).toMatch(/notify: url is required/);
    expect(await broken((d) => (d.initial_state = 'Start'))).toMatch(/initial_state Start is not a state/);
  });

  it('setup --studio creates it published with the service filled in; a second run changes nothing', async () => {
    // the local functions know the sandbox's Studio key: the flow must carry that one
    writeFileSync(
      envFile,
      readFileSync(envFile, 'utf8').replace(
        /^STUDIO_API_KEY=.*$/m,
        `STUDIO_API_KEY=${SANDBOX_DEFAULTS.STUDIO_API_KEY}`,
      ),
    );
    const first = await golive(['setup', '--studio']);
    expect(first.out).toMatch(/\+ Studio flow: "Channel-optimized notification" calling http:\/\/localhost:\d+/);
    expect(first.code).toBe(0);
    expect(first.out).not.toContain(SANDBOX_DEFAULTS.STUDIO_API_KEY);
    const [flow] = await rest.studio.v2.flows.list();
    expect(flow.status).toBe('published');
    const urls = (flow.definition as { states: Array<{ properties: { url?: string } }> }).states.flatMap(
      (st) => st.properties.url ?? [],
    );
    expect(urls).toEqual([
      expect.stringMatching(/^http:\/\/studio:sandbox-studio-api-key@localhost:\d+\/notify$/),
      expect.stringMatching(/\/notification$/),
    ]);
    const again = await golive(['setup', '--studio']);
    expect(again.out).toContain('Nothing to change');
    expect((await rest.studio.v2.flows(flow.sid).fetch()).revision).toBe(flow.revision);
  });

  /** a REST-triggered execution for a contact who replies to an SMS with probability `engages`, run to its end */
  async function execute(to: string, engages: number, parameters: Record<string, unknown>) {
    await c.sandbox.contact(to, { engage: { SMS: engages } });
    const [flow] = await rest.studio.v2.flows.list();
    const execution = await rest.studio.v2.flows(flow.sid).executions.create({ to, from: PHONE, parameters });
    const deadline = Date.now() + 60_000;
    let status = execution.status;
    while (status === 'active' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await rest.studio.v2.flows(flow.sid).executions(execution.sid).fetch()).status;
    }
    const context = await rest.studio.v2.flows(flow.sid).executions(execution.sid).executionContext().fetch();
    const steps = await rest.studio.v2.flows(flow.sid).executions(execution.sid).steps.list();
    return { status, variables: (context.context as any).flow.variables, names: steps.map((s) => s.name).reverse() };
  }

  it('an execution whose customer engages on SMS ends in the "engaged" branch', async () => {
    const run = await execute('+818022220001', 1, {
      userId: 'studio-engaged',
      message: 'ご予約の確認です',
      channel: 'sms',
      wait: 2,
      maxPolls: 1_000_000, // what a caller asks is bounded: at most 60 polls (8 minutes at wait=8)
    });
    expect(run.status).toBe('ended');
    expect(String(run.variables.maxPolls)).toBe('60');
    expect(run.variables.outcome).toBe('engaged');
    expect(run.names.slice(0, 4)).toEqual(['Trigger', 'from_request', 'notify', 'wait_for_outcome']);
    expect(run.names.at(-1)).toBe('engaged');
  });

  it('an execution whose customer never engages ends in "pending" after its polls', async () => {
    const run = await execute('+818022220002', 0, {
      userId: 'studio-silent',
      message: 'ご予約の確認です',
      channel: 'sms',
      wait: 1,
      maxPolls: 2,
    });
    expect(run.status).toBe('ended');
    expect(run.variables.outcome).toBe('pending');
    expect(run.names.filter((n) => n === 'wait_for_outcome')).toHaveLength(2);
  });

  it('an incoming message wired to the flow starts it for the sender', async () => {
    const [flow] = await rest.studio.v2.flows.list();
    // (an earlier case left the service deferring to its number's URL, which setup pointed here too)
    await rest.messaging.v1
      .services(env().MESSAGING_SERVICE_SID)
      .update({ inboundRequestUrl: flow.webhookUrl, useInboundWebhookOnNumber: false });
    const from = '+818022220003';
    await c.sandbox.contact(from, { engage: { SMS: 1 } });
    expect((await c.sandbox.inboundSms(from, '予約')).delivered).toBe(200);
    const deadline = Date.now() + 60_000;
    let found: any;
    while (Date.now() < deadline) {
      const list = await rest.studio.v2.flows(flow.sid).executions.list();
      found = list.find((x) => x.contactChannelAddress === from);
      if (found) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(found).toBeDefined();
    // /notify took it (a user id without "+"): the flow waits for the outcome instead of ending in not_sent
    let names: string[] = [];
    while (Date.now() < deadline && !names.includes('wait_for_outcome') && !names.includes('not_sent')) {
      await new Promise((r) => setTimeout(r, 250));
      names = (await rest.studio.v2.flows(flow.sid).executions(found.sid).steps.list()).map((st) => st.name);
    }
    expect(names).toContain('wait_for_outcome');
    expect(names).not.toContain('not_sent');
    const context = await rest.studio.v2.flows(flow.sid).executions(found.sid).executionContext().fetch();
    expect((context.context as any).flow.variables.userId).toBe('sms-818022220003');
    // setup puts the service's URL back where it belongs
    expect((await golive(['setup'])).code).toBe(0);
  });
});

describe('WhatsApp', () => {
  it('doctor names a sender missing from the Messaging Service and each template missing, not approved or not matching; setup writes the approved ones to .env by name', async () => {
    writeFileSync(
      envFile,
      `${readFileSync(envFile, 'utf8')}WHATSAPP_SENDER=whatsapp:${PHONE}\nWHATSAPP_TEMPLATES=appointment_reminder:2,payment_due:3,spring_sale:0,welcome:1\n`,
    );
    const doctor = await golive(['doctor']);
    expect(doctor.code).toBe(1);
    expect(doctor.out).toMatch(/✗ WhatsApp sender whatsapp:\+\d+: not among the Messaging Service's senders \(none\)/);
    expect(doctor.out).toMatch(/✗ WhatsApp template spring_sale: not approved by WhatsApp: rejected/);
    expect(doctor.out).toMatch(/✗ WhatsApp template payment_due: takes 2 variables; the project fills 3/);
    expect(doctor.out).toMatch(/✗ WhatsApp template welcome: no template of that name/);
    expect(doctor.out).toMatch(/WHATSAPP_TEMPLATE_APPOINTMENT_REMINDER not set/);
    // registering a sender with Meta is a person's work; adding it to the service too (setup says so)
    const [sender] = (await account()).whatsappSenders;
    await rest.messaging.v1.services(env().MESSAGING_SERVICE_SID).channelSenders.create({ sid: sender.sid });
    // the project's templates as the account has them
    writeFileSync(
      envFile,
      readFileSync(envFile, 'utf8').replace(
        /WHATSAPP_TEMPLATES=.*/,
        'WHATSAPP_TEMPLATES=appointment_reminder:2,payment_due:2',
      ),
    );
    const setup = await golive(['setup']);
    expect(setup.code).toBe(0);
    expect(env().WHATSAPP_TEMPLATE_APPOINTMENT_REMINDER).toBe(sandboxTemplateSid('appointment_reminder'));
    expect(env().WHATSAPP_TEMPLATE_PAYMENT_DUE).toBe(sandboxTemplateSid('payment_due'));
    const after = await golive(['doctor']);
    expect(after.out).toMatch(/✓ WhatsApp sender whatsapp:\+\d+/);
    expect(after.code).toBe(0);
  });
});
