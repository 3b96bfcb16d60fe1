// `npm run bench:scale`: what one Twilio account can do with this service, measured on the
// sandbox with Twilio's limits (account concurrency 100, 20429 past it; 10 s per invocation;
// 1 MB bodies) and a latency per upstream API.
//   node scripts/scale-bench.mjs [--latency twilio:50,sync:50,sendgrid:80,segment:60,profiles:60]
//                                [--users 900] [--big-users 1500] [--notify 600] [--concurrency 16]
//                                [--frequency-cap 3/24h]
// It prints, for the campaign's Event Webhook batch (processed, delivered and open per user):
// wall time, the functions' CPU, peak upstream concurrency and 429s; for a redelivery of it; for a
// 1,500-user batch (delivered, open) and how soon recovery completes what it kept; the sustained
// rate of /notify; and events/s through the webhooks.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { campaignNotification, pool } from './bench-campaign.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const opts = new Command()
  .option('--latency <spec>', 'latency per API', 'twilio:50,sync:50,sendgrid:80,segment:60,profiles:60')
  .option('--users <n>', 'recipients of the campaign batch', Number, 900)
  .option('--big-users <n>', 'recipients of the larger batch (delivered, open)', Number, 1500)
  .option('--notify <n>', '/notify calls for the sustained rate', Number, 600)
  .option('--concurrency <n>', '/notify calls in flight for the sustained rate', Number, 16)
  .option('--frequency-cap <spec>', "the service's FREQUENCY_CAP (e.g. 3/24h: what the cap's slots cost /notify)")
  .parse()
  .opts();

execFileSync(process.execPath, [`${root}scripts/build.mjs`, '--no-typecheck'], { stdio: 'ignore' });
const {
  launchLocal,
  freePort,
  sandboxEventWebhookPost: sendgridPost,
} = createRequire(import.meta.url)(`${root}.build/sandbox/launch.js`);
const stack = await launchLocal({
  root,
  functionsPort: await freePort(),
  sandboxPort: await freePort(),
  stdio: 'ignore',
  env: {
    RECOVERY_SWEEP_SECONDS: '0',
    SANDBOX_CALLBACK_DELAY_MS: '20',
    ...(opts.frequencyCap ? { FREQUENCY_CAP: opts.frequencyCap } : {}),
  },
});
const KEY = 'sandbox-notify-api-key';
const sb = async (method, path, body) => {
  const res = await fetch(`${stack.sandboxUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return res.json();
};
/** CPU time (ms) the functions' process has used: utime + stime from /proc */
const cpuMs = () => {
  const f = readFileSync(`/proc/${stack.functionsPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
};
const notify = (body) =>
  fetch(`${stack.functionsUrl}/notify`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

/** the slowest invocation of every phase (each phase resets the sandbox's record) */
const worst = { ms: 0, path: '-', killed: 0, serverErrors: 0 };
async function noteInvocations() {
  const inv = await sb('GET', '/sandbox/invocations');
  if (inv.maxMs > worst.ms) Object.assign(worst, { ms: inv.maxMs, path: inv.slowest[0]?.path ?? '-' });
  worst.killed += inv.killed;
  worst.serverErrors += inv.serverErrors;
}

/** Waits until the functions are idle (a /recover a batch started may still be finishing), so that a
 * phase's CPU is its own: the process's CPU time unchanged over half a second. */
async function idle() {
  for (let last = cpuMs(), i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 500));
    const now = cpuMs();
    if (now - last <= 10) return;
    last = now;
  }
}

const reset = async () => {
  await idle();
  await noteInvocations();
  await sb('POST', '/sandbox/reset', { simulate: false });
};

/** n email notifications (no latency: setting the scene is not what is measured) */
async function campaign(prefix, n) {
  await noteInvocations();
  await sb('POST', '/sandbox/upstream', { latency: '' });
  await pool(n, 16, async (i) => {
    const res = await notify(campaignNotification(prefix, i));
    if (res.status !== 200) throw new Error(`notify ${res.status} ${JSON.stringify(res.body)}`);
  });
  await sb('POST', '/sandbox/upstream', { latency: opts.latency, resetStats: true });
  await sb('POST', '/sandbox/invocations/reset', {});
}

/** users of `prefix` whose identify of what was learned (best_channel) reached Segment */
const learned = async (prefix) =>
  new Set(
    (await sb('GET', '/sandbox/segment/events?type=identify'))
      .filter((e) => e.userId?.startsWith(`${prefix}-`) && e.traits?.best_channel)
      .map((e) => e.userId),
  ).size;

/**
 * Posts the campaign's batch and measures the functions' CPU until the answer; with `learners`, also
 * until that many users' identifies of what was learned reached Segment (a large batch leaves the
 * learner's evidence to the /recover it starts: the batch's whole cost is both).
 */
async function postCampaignBatch(events, again = false, learners = 0, prefix = '') {
  await sb('POST', '/sandbox/upstream', { resetStats: true });
  const cpu = cpuMs();
  const { batches } = await sb('POST', '/sandbox/email-events/campaign', { events, again });
  const used = cpuMs() - cpu;
  const answered = Date.now();
  const upstream = await sb('GET', '/sandbox/upstream');
  const result = { batches, cpu: used, upstream, answered };
  return learners ? { ...result, complete: await learnerDone(prefix, learners, cpu, answered) } : result;
}

/** Waits until `n` users of `prefix` have their identify of what was learned: when, and the CPU since `cpu`. */
async function learnerDone(prefix, n, cpu, answered) {
  while (Date.now() - answered < 60_000 && (await learned(prefix)) < n) await new Promise((r) => setTimeout(r, 100));
  const { connections } = await sb('GET', '/sandbox/upstream');
  return { cpu: cpuMs() - cpu, after: (Date.now() - answered) / 1000, users: await learned(prefix), connections };
}

const engaged = async (prefix) =>
  (await sb('GET', '/sandbox/segment/events?type=track&event=Notification%20Engaged')).filter((e) =>
    e.userId.startsWith(`${prefix}-`),
  );

/** connections the functions opened to Twilio's APIs (each a TLS handshake against Twilio itself) */
const twilioConnections = (connections) => (connections.twilio ?? 0) + (connections.sync ?? 0);

const line = (label, r) => {
  const b = r.batches
    .map(
      (x) => `${x.events} events, ${(x.bytes / 1024).toFixed(0)} KB: HTTP ${x.status} in ${(x.ms / 1000).toFixed(2)} s`,
    )
    .join('; ');
  console.log(
    `${label.padEnd(34)} ${b} | functions CPU ${r.cpu.toFixed(0)} ms | peak Twilio requests in flight ${r.upstream.peakInFlight} | 429s ${r.upstream.refused} | connections opened ${twilioConnections(r.upstream.connections)}`,
  );
  if (r.complete)
    console.log(
      `  learner: ${r.complete.users} users' evidence counted ${r.complete.after.toFixed(1)} s after the answer (/recover); functions CPU ${r.complete.cpu.toFixed(0)} ms in all; connections opened ${twilioConnections(r.complete.connections)} in all`,
    );
};

try {
  await reset();
  console.log(
    `Node.js ${process.version} (Twilio's runtime: node22); latency per call: ${opts.latency}; account concurrency ${(await sb('GET', '/sandbox/upstream')).concurrency}`,
  );

  // 1. the campaign's batch: processed, delivered, open for every user; the first in this process
  //    (the webhook's code not yet optimised by V8: a cold container), then the next campaign's
  await campaign('w', opts.users);
  const cold = await postCampaignBatch(['processed', 'delivered', 'open'], false, opts.users, 'w');
  line(`batch: ${opts.users} users × 3, first`, cold);
  await reset();
  await campaign('c', opts.users);
  const first = await postCampaignBatch(['processed', 'delivered', 'open'], false, opts.users, 'c');
  line(`batch: ${opts.users} users × 3, next`, first);
  const counted = await engaged('c');
  await idle();
  const again = await postCampaignBatch(undefined, true);
  line('the same batch redelivered', again);
  const countedAgain = await engaged('c');
  console.log(
    `  Notification Engaged: ${counted.length} of ${opts.users} after the batch, ${countedAgain.length} after the redelivery`,
  );

  // 2. a larger batch: 1,500 users' opens (each a record, and evidence counted by /recover); what the
  //    deadline left is kept and completed by recovery too
  await reset();
  await campaign('b', opts.bigUsers);
  const bigCpu = cpuMs();
  const big = await postCampaignBatch(['open']);
  line(`batch: ${opts.bigUsers} users' opens`, big);
  const { answered } = big;
  let all = 0;
  while (Date.now() - answered < 60_000) {
    all = (await engaged('b')).length;
    if (all >= opts.bigUsers) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(
    `  Notification Engaged: ${all} of ${opts.bigUsers}, the last ${((Date.now() - answered) / 1000).toFixed(1)} s after the answer`,
  );
  const bigLearned = await learnerDone('b', opts.bigUsers, bigCpu, answered);
  console.log(
    `  learner: ${bigLearned.users} users' evidence counted ${bigLearned.after.toFixed(1)} s after the answer (/recover); functions CPU ${bigLearned.cpu.toFixed(0)} ms in all; connections opened ${twilioConnections(bigLearned.connections)} in all`,
  );

  // 3. CPU per event: 2,000 events over 40 notifications (many opens and clicks of each), twice
  for (const round of ['first', 'next']) {
    await reset();
    const p = `e${round}`;
    await campaign(p, 40);
    const events = [];
    for (let i = 0; i < 40; i++)
      for (let j = 0; j < 50; j++) {
        const event = j === 0 ? 'processed' : j === 1 ? 'delivered' : j % 2 ? 'open' : 'click';
        events.push({
          notification_id: `${p}.${i}`,
          user_id: `${p}-${i}`,
          email: `${p}-${i}@example.jp`,
          event,
          timestamp: 1764000000 + j,
          sg_event_id: `${p}-${i}-${j}-${Math.random().toString(36).slice(2)}`,
          sg_message_id: `m${i}.filter0001.0`,
          ...(event === 'open' || event === 'click'
            ? { sg_machine_open: false, useragent: 'Mozilla/5.0', ip: '203.0.113.7' }
            : {}),
          ...(event === 'click' ? { url: 'https://example.com/r' } : {}),
        });
      }
    const cpu40 = cpuMs();
    const t40 = Date.now();
    // as SendGrid posts them: each event bound to its email's notification and user, signed
    const r40 = await fetch(`${stack.functionsUrl}/email/events`, { method: 'POST', ...sendgridPost(events) });
    await r40.text();
    console.log(
      `batch: 2,000 events over 40 notifications, ${round}: HTTP ${r40.status} in ${((Date.now() - t40) / 1000).toFixed(2)} s | functions CPU ${(cpuMs() - cpu40).toFixed(0)} ms`,
    );
  }

  // 4. the sustained rate of /notify under the account's concurrency
  await reset();
  await sb('POST', '/sandbox/upstream', { latency: opts.latency, resetStats: true });
  const started = Date.now();
  const cpu = cpuMs();
  const statuses = {};
  await pool(opts.notify, opts.concurrency, async (i) => {
    const res = await notify({
      userId: `n-${i}`,
      phone: `+8190${String(10_000_000 + i)}`,
      message: 'お知らせ',
      notificationId: `rate.${i}`,
    });
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
  });
  const secs = (Date.now() - started) / 1000;
  const up = await sb('GET', '/sandbox/upstream');
  console.log(
    `/notify ×${opts.notify}, ${opts.concurrency} at once: ${(opts.notify / secs).toFixed(1)} notifications/s, functions CPU ${((cpuMs() - cpu) / opts.notify).toFixed(1)} ms each, peak Twilio in flight ${up.peakInFlight}, 429s ${up.refused}, answers ${JSON.stringify(statuses)}`,
  );

  await noteInvocations();
  const campaignEvents = first.batches.reduce((s, b) => s + b.events, 0);
  const ms = first.batches.reduce((s, b) => s + b.ms, 0);
  console.log(`webhook throughput: ${((campaignEvents / ms) * 1000).toFixed(0)} events/s (the campaign batch)`);
  console.log(
    `slowest invocation ${worst.ms} ms (${worst.path}); over 10 s: ${worst.killed}; 5xx: ${worst.serverErrors}`,
  );
} finally {
  await stack.stop();
}
