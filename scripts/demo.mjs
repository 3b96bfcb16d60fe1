// `npm run demo`: the learning, watched. Starts two local stacks (functions +
// sandbox, no credentials): one routing with ROUTING_POLICY=learned (its
// dashboard at http://127.0.0.1:3001/ when the port is free), one with
// ROUTING_POLICY=trait (Segment's "most frequent" computed trait, as the
// tutorial does). The same simulated recipients, each with a hidden channel
// they answer, get a notification per round through /notify on both; every
// engagement comes back through the webhooks. Prints a progress bar, then a
// chart of engagement per round (learned, trait, and the oracle that always
// picks each person's best channel) and a table; writes the chart as SVG, the
// figures as JSON and a screenshot of the dashboard under demo-output/.
//   node scripts/demo.mjs [users=80] [rounds=20] [seed=11]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import asciichart from 'asciichart';
import { SingleBar } from 'cli-progress';
import seedrandom from 'seedrandom';

const root = fileURLToPath(new URL('..', import.meta.url));
const USERS = Number(process.argv[2] ?? 80);
const ROUNDS = Number(process.argv[3] ?? 20);
const rand = seedrandom(String(process.argv[4] ?? 11));
const out = `${root}demo-output`;
const CHANNELS = ['SMS', 'CALL', 'EMAIL'];
const started = Date.now();

execFileSync(process.execPath, [`${root}scripts/build.mjs`, '--no-typecheck'], { stdio: 'ignore' });
const require = createRequire(import.meta.url);
const { launchLocal, freePort, sandboxFunctionEnv } = require(`${root}.build/sandbox/launch.js`);
const portFree = async (port) => {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer().once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
};

// ---- the population: a hidden favourite channel each (answered 75 % of the time, the others 10 %); 20 % have no email
const people = Array.from({ length: USERS }, (_, i) => {
  const favourite = CHANNELS[Math.floor(rand() * 3)];
  const hasEmail = rand() >= 0.2;
  const engage = Object.fromEntries(CHANNELS.map((c) => [c, c === favourite ? 0.75 : 0.1]));
  if (!hasEmail) engage.EMAIL = 0;
  return {
    userId: `demo-${String(i + 1).padStart(3, '0')}`,
    phone: `+8190${String(55_000_000 + i)}`,
    email: hasEmail ? `demo${i + 1}@example.jp` : undefined,
    favourite,
    engage,
  };
});
const oracleRate = people.reduce((sum, p) => sum + Math.max(...Object.values(p.engage)), 0) / USERS;

async function stack(policy, functionsPort, sandboxPort) {
  const env = { ROUTING_POLICY: policy, SANDBOX_CALLBACK_DELAY_MS: '20' };
  const local = await launchLocal({ root, functionsPort, sandboxPort, stdio: 'ignore', env });
  const key = sandboxFunctionEnv(local.sandboxUrl).NOTIFY_API_KEY;
  const sb = async (path, body) => {
    const res = await fetch(`${local.sandboxUrl}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json();
  };
  await sb('/sandbox/reset', { simulate: true });
  for (const p of people) {
    await sb(`/sandbox/contacts/${encodeURIComponent(p.phone)}`, { engage: p.engage, reply: 'はい' });
    if (p.email) await sb(`/sandbox/contacts/${encodeURIComponent(p.email)}`, { engage: p.engage });
  }
  const notify = async (p, round) => {
    const res = await fetch(`${local.functionsUrl}/notify`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        notificationId: `${p.userId}-r${round}`,
        userId: p.userId,
        phone: p.phone,
        ...(p.email ? { email: p.email } : {}),
        locale: 'ja-JP',
        message: `【デモ】第${round + 1}回のお知らせです。ご確認ください。`,
      }),
    });
    return res.json();
  };
  const engaged = async () => (await sb('/sandbox/segment/events?type=track&event=Notification%20Engaged')).length;
  return { policy, local, sb, notify, engaged, rates: [], mix: { SMS: 0, CALL: 0, EMAIL: 0 }, total: 0 };
}

const [learnedPorts, traitPorts] = [
  (await portFree(3000)) && (await portFree(3001)) ? [3000, 3001] : [await freePort(), await freePort()],
  [await freePort(), await freePort()],
];
const stacks = await Promise.all([stack('learned', ...learnedPorts), stack('trait', ...traitPorts)]);
console.log(`${USERS} recipients × ${ROUNDS} rounds, on two stacks:`);
console.log(`  learned: dashboard ${stacks[0].local.sandboxUrl}/  (watch it while this runs)`);
console.log(`  trait:   dashboard ${stacks[1].local.sandboxUrl}/`);

const bar = new SingleBar({
  format: ' {bar} round {round}/{rounds} | {value}/{total} notifications | learned {learned}% trait {trait}% of oracle',
  stream: process.stderr,
  noTTYOutput: true,
  notTTYSchedule: 5000,
});
bar.start(ROUNDS * USERS * 2, 0, { round: 0, rounds: ROUNDS, learned: '–', trait: '–' });
try {
  for (let round = 0; round < ROUNDS; round++) {
    await Promise.all(
      stacks.map(async (s) => {
        const before = await s.engaged();
        let next = 0;
        const worker = async () => {
          while (next < USERS) {
            const p = people[next++];
            const answer = await s.notify(p, round);
            if (answer.channel) s.mix[answer.channel]++;
            s.total++;
            bar.increment();
          }
        };
        await Promise.all(Array.from({ length: 4 }, worker));
        await s.sb('/sandbox/settle', {});
        s.rates.push((await s.engaged()) - before);
      }),
    );
    const pct = (s) => ((100 * s.rates.at(-1)) / USERS / oracleRate).toFixed(0);
    bar.update({ round: round + 1, learned: pct(stacks[0]), trait: pct(stacks[1]) });
  }
  bar.stop();

  // ---- what was learned, shown
  const series = stacks.map((s) => s.rates.map((n) => (100 * n) / USERS));
  const oracle = Array(ROUNDS).fill(100 * oracleRate);
  console.log('\nengagement per round, % of recipients: learned (green), trait (yellow), oracle (grey)\n');
  // each round drawn 3 columns wide, so that the chart reads as a curve
  const wide = (values) => values.flatMap((v) => [v, v, v]);
  const colors = process.stdout.isTTY ? [asciichart.green, asciichart.yellow, asciichart.lightgray] : undefined;
  console.log(
    asciichart.plot([...series, oracle].map(wide), {
      height: 12,
      colors,
      format: (x) => x.toFixed(0).padStart(4),
    }),
  );
  console.log(`       round 1 ${'─'.repeat(Math.max(0, ROUNDS * 3 - 16))} round ${ROUNDS}\n`);
  const row = (label, values) => `${label.padEnd(8)}${values.map((v) => v.toFixed(0).padStart(4)).join('')}`;
  console.log(
    row(
      'round',
      series[0].map((_, i) => i + 1),
    ),
  );
  console.log(row('learned', series[0]));
  console.log(row('trait', series[1]));
  console.log(row('oracle', oracle));
  console.log();
  const share = (s, from = 0) => {
    const got = s.rates.slice(from).reduce((a, b) => a + b, 0);
    return ((100 * got) / (USERS * (ROUNDS - from) * oracleRate)).toFixed(1);
  };
  const last = Math.max(0, ROUNDS - 4);
  console.log('policy    all rounds  last 4 rounds   channel mix (SMS / CALL / EMAIL)');
  for (const s of stacks) {
    const mix = CHANNELS.map((c) => `${((100 * s.mix[c]) / s.total).toFixed(0)}%`).join(' / ');
    console.log(`${s.policy.padEnd(9)} ${`${share(s)}%`.padStart(10)}  ${`${share(s, last)}%`.padStart(13)}   ${mix}`);
  }
  const truth = CHANNELS.map((c) => `${((100 * people.filter((p) => p.favourite === c).length) / USERS).toFixed(0)}%`);
  console.log(
    `(recipients' hidden favourites: ${truth.join(' / ')}; the oracle earns ${(100 * oracleRate).toFixed(1)}% a round)`,
  );

  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}/engagement.svg`, svgChart(series, oracle));
  const figures = stacks.map((s) => ({ policy: s.policy, perRound: s.rates, ofOracle: Number(share(s)), mix: s.mix }));
  writeFileSync(
    `${out}/results.json`,
    `${JSON.stringify({ users: USERS, rounds: ROUNDS, oracleRate, figures }, null, 2)}\n`,
  );
  await screenshot(`${stacks[0].local.sandboxUrl}/`, `${out}/dashboard.png`).catch((err) =>
    console.log(`(no dashboard screenshot: ${err.message})`),
  );
  console.log(
    `\nwritten: demo-output/engagement.svg, results.json, dashboard.png  (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
} finally {
  await Promise.all(stacks.map((s) => s.local.stop()));
}

/** The chart as a small SVG: one polyline per series, axes in % of recipients. */
function svgChart(seriesList, oracleLine) {
  const [w, h, pad] = [640, 320, 40];
  const x = (i) => pad + (i * (w - 2 * pad)) / Math.max(1, ROUNDS - 1);
  const y = (v) => h - pad - (v / 100) * (h - 2 * pad);
  const line = (values, color, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2.5" ${dash} points="${values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')}"/>`;
  const grid = [0, 25, 50, 75, 100]
    .map(
      (v) =>
        `<line x1="${pad}" x2="${w - pad}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="8" y="${y(v) + 4}" font-size="11">${v}%</text>`,
    )
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>${grid}
${line(oracleLine, '#999', 'stroke-dasharray="6 4"')}${line(seriesList[1], '#d4a72c')}${line(seriesList[0], '#1a7f37')}
<text x="${pad}" y="20" font-size="13">Engagement per round (% of recipients): learned (green), trait (yellow), oracle (dashed)</text>
<text x="${w / 2 - 30}" y="${h - 8}" font-size="11">round 1 → ${ROUNDS}</text>
</svg>
`;
}

async function screenshot(url, path) {
  const chromium = (await import('@sparticuz/chromium')).default;
  const { chromium: pw } = await import('playwright-core');
  const browser = await pw.launch({
    executablePath: await chromium.executablePath(),
    args: chromium.args,
    headless: true,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.waitForSelector('tr.notification');
    await page.click('tr.notification');
    await page.evaluate(() => document.fonts.ready);
    await page.waitForTimeout(500);
    await page.screenshot({ path });
  } finally {
    await browser.close();
  }
}
