// `npm run bench:batch-cpu`: the CPU of the campaign's Event Webhook batch (processed, delivered and
// open for each of N users), with the built handlers called in this process and no twilio-run, so
// the figure is the service's own; round after round in one process, to tell a fresh container's
// cost (V8 not yet warm) from a warm one's. The sandbox runs beside it with Sync at a latency.
//   node scripts/batch-cpu-bench.mjs [--users 900] [--rounds 3] [--latency twilio:50,sync:50,sendgrid:80,segment:60] [--history 20]
//   node scripts/batch-cpu-bench.mjs --users 40 --events-per-user 50: the 2,000-event batch over 40 notifications
//   (many opens and clicks of each), the per-event cost issue 30 sets a goal for (≤ 150 ms of CPU)
// --cold: the first round's /notify calls are made by another process, so that this one's first work
// is the batch itself, as in a container started for the webhook (without it, the first round's
// process has just served the campaign's /notify calls: the code both share is already warm).
// --history N gives each user, before the campaign, the evidence N earlier notifications (UUID ids, every
// band of the day) leave behind, as this version stores it, as a campaign to an existing audience meets
// it; 0: new users.
// A large batch leaves the learner's evidence to the /recover it starts (app/webhooks/batches.ts); here that
// /recover is called in this process too, until nothing is left, and its CPU is shown with the total.
// For steadier figures on a 2-core machine, keep the two apart: `taskset -c 0 npm run bench:batch-cpu`
// (the sandbox inherits the mask: give it the other core with SANDBOX_CPU=1, which uses taskset).
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import { Command, Option } from 'commander';
import { campaignNotification, pool } from './bench-campaign.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const opts = new Command()
  .option('--users <n>', 'recipients of the campaign batch', Number, 900)
  .option('--rounds <n>', 'batches, one after another in this process', Number, 3)
  .option('--latency <spec>', 'latency per API', 'twilio:50,sync:50,sendgrid:80,segment:60')
  .option('--history <n>', "earlier notifications in each user's evidence", Number, 0)
  .option(
    '--events-per-user <n>',
    'events per notification: processed, delivered, then opens and clicks in turn (3: processed, delivered, open)',
    Number,
    3,
  )
  .option('--cold', "the first round's /notify calls from another process: the batch is this process's first work")
  // what --cold runs in that other process: the campaign's /notify calls against this sandbox
  .addOption(new Option('--notify-only <prefix>').hideHelp())
  .addOption(new Option('--sandbox-url <url>').hideHelp())
  .parse()
  .opts();

const require = createRequire(import.meta.url);
if (!opts.notifyOnly)
  execFileSync(process.execPath, [`${root}scripts/build.mjs`, '--no-typecheck'], { stdio: 'ignore' });
const { freePort, sandboxFunctionEnv, sandboxEventWebhookPost } = require(`${root}.build/sandbox/launch.js`);
const port = opts.notifyOnly ? undefined : await freePort();
const sandboxUrl = opts.sandboxUrl ?? `http://127.0.0.1:${port}`;
const [command, ...args] = process.env.SANDBOX_CPU
  ? ['taskset', '-c', process.env.SANDBOX_CPU, process.execPath]
  : [process.execPath];
const sandbox = opts.notifyOnly
  ? undefined
  : spawn(command, [...args, `${root}.build/sandbox/main.js`], {
      env: { ...process.env, SANDBOX_PORT: String(port), SANDBOX_NO_DOTENV: '1' },
      stdio: 'ignore',
    });
const stop = () => sandbox?.kill('SIGTERM');
for (let i = 0; ; i++) {
  if (i > 100) throw new Error('the sandbox did not start');
  if (
    await fetch(`${sandboxUrl}/sandbox`).then(
      (r) => r.ok,
      () => false,
    )
  )
    break;
  await new Promise((r) => setTimeout(r, 100));
}

// the functions' log lines are written, as the runtime writes them, but to /dev/null, not over the figures
const say = (line) => process.stdout.write(`${line}\n`);
const sink = openSync('/dev/null', 'w');
for (const level of ['log', 'info', 'warn', 'error']) console[level] = (...a) => writeSync(sink, `${format(...a)}\n`);

// what Twilio's runtime gives a handler: Twilio.Response, a context of the environment, an event
globalThis.Twilio = {
  Response: class {
    setStatusCode(s) {
      this.statusCode = s;
    }
    appendHeader() {}
    setBody(b) {
      this.body = b;
    }
  },
};
const context = { ...sandboxFunctionEnv(sandboxUrl), RECOVERY_SWEEP_SECONDS: '0', DOMAIN_NAME: 'localhost:1' };
const notify = require(`${root}dist/functions/notify.js`).handler;
const emailEvents = require(`${root}dist/functions/email/events.js`).handler;
const recover = require(`${root}dist/functions/recover.js`).handler;
const invoke = (handler, event) =>
  new Promise((resolve) => handler(context, event, (err, res) => resolve(err ? { statusCode: 500 } : res)));
const sb = (path, body) =>
  fetch(`${sandboxUrl}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then((r) => r.json());
const headers = (authorization) => ({ request: { headers: { 'content-type': 'application/json', authorization } } });

/** Each user's evidence document as `--history` earlier notifications leave it (written through Sync's API). */
async function seedHistory(prefix) {
  const { ACCOUNT_SID, AUTH_TOKEN, SYNC_SERVICE_SID = 'default' } = context;
  const auth = `Basic ${Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')}`;
  const at = Date.now() - 86_400_000;
  const r4 = (x) => Math.round(x * 1e4) / 1e4; // counts as stored: 4 decimals
  const counts = (sent, engaged) => ({ sent: r4(sent), engaged: r4(engaged), failed: 0, at });
  const n = opts.history;
  const channels = { EMAIL: counts(n / 3, n / 6), SMS: counts(n / 3, n / 4), CALL: counts(n / 3, n / 8) };
  const bands = Object.fromEntries(['night', 'morning', 'afternoon', 'evening'].map((b) => [b, channels]));
  await pool(opts.users, 16, async (i) => {
    const userId = `${prefix}-${i}`;
    // what this version keeps per observation (store/evidence.ts: 12 characters of a sha256)
    const seen = Array.from({ length: n }, () => randomUUID()).flatMap((id) =>
      ['notified', 'sent', 'engaged'].map((k) =>
        createHash('sha256').update(`${id}|EMAIL|${k}`).digest('base64url').slice(0, 12),
      ),
    );
    const data = { v: 1, channels, bands, seen: seen.slice(-60) };
    // named as store/documents.ts's userKey names it
    const name = `evidence-${createHash('sha256').update(userId).digest('hex').slice(0, 40)}`;
    const res = await fetch(`${sandboxUrl}/v1/Services/${SYNC_SERVICE_SID}/Documents`, {
      method: 'POST',
      headers: { Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ UniqueName: name, Data: JSON.stringify(data) }),
    });
    if (!res.ok) throw new Error(`seeding evidence: ${res.status} ${await res.text()}`);
  });
}

/** The campaign's /notify calls: [user index, SendGrid message id] of each. */
async function sendCampaign(prefix) {
  const sent = [];
  await pool(opts.users, 16, async (i) => {
    const res = await invoke(notify, {
      ...headers('Bearer sandbox-notify-api-key'),
      ...campaignNotification(prefix, i),
    });
    if (res.statusCode !== 200) throw new Error(`notify ${res.statusCode} ${JSON.stringify(res.body)}`);
    sent.push([i, res.body.providerId]);
  });
  return sent;
}

if (opts.notifyOnly) {
  process.stdout.write(`${JSON.stringify(await sendCampaign(opts.notifyOnly))}\n`);
  process.exit(0);
}

/** The same calls from another process (--cold), so that this one has run none of the functions' code. */
function sendCampaignElsewhere(prefix) {
  const out = execFileSync(
    process.execPath,
    [
      fileURLToPath(import.meta.url),
      '--notify-only',
      prefix,
      '--sandbox-url',
      sandboxUrl,
      '--users',
      String(opts.users),
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return JSON.parse(out.toString());
}

try {
  say(
    `Node.js ${process.version} (Twilio's runtime: node22); ${opts.users} users × (processed, delivered, open); latency ${opts.latency}; ${opts.history ? `${opts.history} earlier notifications each` : 'new users'}${opts.cold ? '; --cold' : ''}`,
  );
  for (let round = 0; round < opts.rounds; round++) {
    await sb('/sandbox/reset', { simulate: false });
    await sb('/sandbox/upstream', { latency: '' });
    const prefix = `r${round}`;
    if (opts.history > 0) await seedHistory(prefix);
    const sent = opts.cold && round === 0 ? sendCampaignElsewhere(prefix) : await sendCampaign(prefix);
    const events = [];
    let n = 0;
    const kinds = Array.from({ length: opts.eventsPerUser }, (_, j) =>
      j === 0 ? 'processed' : j === 1 ? 'delivered' : j % 2 ? 'click' : 'open',
    );
    if (opts.eventsPerUser === 3) kinds[2] = 'open';
    for (const [i, providerId] of sent)
      kinds.forEach((kind, j) => {
        events[n++] = {
          notification_id: `${prefix}.${i}`,
          user_id: `${prefix}-${i}`,
          email: `${prefix}-${i}@example.jp`,
          event: kind,
          timestamp: 1764000000 + n,
          sg_event_id: `${prefix}-${i}-${kind}${opts.eventsPerUser === 3 ? '' : `-${j}`}`,
          sg_message_id: `${providerId}.filter0001.sandbox.0`,
          ...(kind === 'open' || kind === 'click'
            ? { sg_machine_open: false, useragent: 'Mozilla/5.0', ip: '203.0.113.7' }
            : {}),
          ...(kind === 'click' ? { url: 'https://example.com/r' } : {}),
        };
      });
    // as SendGrid posts it (each event bound to its email, signed), then as twilio-run hands a JSON
    // array to a function: its items under "0", "1", …, the headers lower-cased
    const post = sandboxEventWebhookPost(events);
    const event = {
      request: { headers: Object.fromEntries(Object.entries(post.headers).map(([k, v]) => [k.toLowerCase(), v])) },
      ...Object.fromEntries(JSON.parse(post.body).map((e, k) => [String(k), e])),
    };
    await sb('/sandbox/upstream', { latency: opts.latency });
    const cpu = process.cpuUsage();
    const started = Date.now();
    const res = await invoke(emailEvents, event);
    const used = process.cpuUsage(cpu);
    const answeredIn = (Date.now() - started) / 1000;
    // what the batch left to /recover (the learner's evidence, and any kept chunk), until nothing is left
    const after = process.cpuUsage();
    let runs = 0;
    for (let report; runs < 20 && (!report || report.remaining > 0 || report.unswept > 0); runs++) {
      const r = await invoke(recover, { ...headers('Bearer sandbox-notify-api-key') });
      if (r.statusCode !== 200) throw new Error(`recover ${r.statusCode} ${JSON.stringify(r.body)}`);
      report = r.body;
    }
    const completing = process.cpuUsage(after);
    const ms = (u) => ((u.user + u.system) / 1000).toFixed(0);
    const chunks = res.body?.chunks ? ` | chunks ${res.body.chunks.applied} applied, ${res.body.chunks.kept} kept` : '';
    say(
      `round ${round + 1}${round === 0 ? (opts.cold ? ' (cold process: the batch is its first work)' : ' (fresh process)') : ''}: HTTP ${res.statusCode} in ${answeredIn.toFixed(2)} s | CPU ${ms(used)} ms${chunks} | completed by /recover ×${runs} in ${((Date.now() - started) / 1000).toFixed(2)} s, CPU ${ms(completing)} ms | total ${(Number(ms(used)) + Number(ms(completing))).toFixed(0)} ms`,
    );
  }
} finally {
  stop();
}
process.exit(0);
