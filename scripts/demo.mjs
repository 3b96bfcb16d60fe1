// `npm run demo`: the learning, watched, and its lift measured as an operator
// would in production. Starts one local stack (functions + sandbox, no
// credentials; its dashboard at http://127.0.0.1:3001/ when the port is free)
// with HOLDOUT_PERCENT=30: a stable hashed 30 % of the recipients is the
// holdout, routed by Segment's "most frequent" computed trait as the tutorial
// does (HOLDOUT_POLICY=trait), the rest by the learner. The simulated
// recipients, each with a hidden channel they answer, get a notification per
// round (a simulated day) through /notify; every engagement comes back through
// the webhooks. Prints a progress bar, a chart of engagement per round
// (learned, holdout, and the oracle that always picks each person's best
// channel), then what GET /insights reports: each group's rate with its 95 %
// interval and the lift. Writes the chart as SVG, the figures as JSON and
// screenshots of the dashboard and the insights page under demo-output/.
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

const HOLDOUT_PERCENT = 30;

async function stack(functionsPort, sandboxPort) {
  const env = {
    HOLDOUT_PERCENT: String(HOLDOUT_PERCENT),
    HOLDOUT_POLICY: 'trait',
    SANDBOX_CALLBACK_DELAY_MS: '20',
    RECOVERY_SWEEP_SECONDS: '0',
  };
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
  /** the notification ids engaged so far */
  const engaged = async () =>
    new Set(
      (await sb('/sandbox/segment/events?type=track&event=Notification%20Engaged')).map(
        (e) => e.properties.notification_id,
      ),
    );
  const insights = async () =>
    (await fetch(`${local.functionsUrl}/insights`, { headers: { Authorization: `Bearer ${key}` } })).json();
  return { local, key, sb, notify, engaged, insights };
}

const ports = (await portFree(3000)) && (await portFree(3001)) ? [3000, 3001] : [await freePort(), await freePort()];
const s = await stack(...ports);
/** per group: its recipients, engagement per round, its channel mix */
const groups = {
  learned: { people: [], rates: [], mix: { SMS: 0, CALL: 0, EMAIL: 0 }, total: 0 },
  holdout: { people: [], rates: [], mix: { SMS: 0, CALL: 0, EMAIL: 0 }, total: 0 },
};
const groupOf = new Map();
console.log(
  `${USERS} recipients × ${ROUNDS} rounds (a simulated day each); ${HOLDOUT_PERCENT} % held out, routed by the "most frequent" trait`,
);
console.log(`  dashboard ${s.local.sandboxUrl}/  (watch it while this runs)`);
console.log(`  insights  ${s.local.functionsUrl}/insights.html  (key ${s.key})`);

const bar = new SingleBar({
  format:
    ' {bar} round {round}/{rounds} | {value}/{total} notifications | learned {learned}% holdout {holdout}% of oracle',
  stream: process.stderr,
  noTTYOutput: true,
  notTTYSchedule: 5000,
});
const oracleOf = (list) => list.reduce((sum, p) => sum + Math.max(...Object.values(p.engage)), 0) / list.length;
bar.start(ROUNDS * USERS, 0, { round: 0, rounds: ROUNDS, learned: '–', holdout: '–' });
let report;
try {
  for (let round = 0; round < ROUNDS; round++) {
    let next = 0;
    const worker = async () => {
      while (next < USERS) {
        const p = people[next++];
        const answer = await s.notify(p, round);
        const g = groups[answer.group];
        if (g) {
          if (!groupOf.has(p.userId)) g.people.push(p);
          groupOf.set(p.userId, answer.group);
          if (answer.channel) g.mix[answer.channel]++;
          g.total++;
        }
        bar.increment();
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    await s.sb('/sandbox/settle', {});
    const engaged = [...(await s.engaged())].filter((id) => id.endsWith(`-r${round}`));
    for (const [name, g] of Object.entries(groups)) {
      const n = engaged.filter((id) => groupOf.get(id.replace(/-r\d+$/, '')) === name).length;
      g.rates.push(g.people.length ? (100 * n) / g.people.length : 0);
    }
    await s.sb('/sandbox/clock/advance', { seconds: 86_400 }); // the next round is the next day
    const pct = (g) => (g.rates.at(-1) / oracleOf(g.people)).toFixed(0);
    bar.update({ round: round + 1, learned: pct(groups.learned), holdout: pct(groups.holdout) });
  }
  bar.stop();
  report = await s.insights();

  // ---- what was learned, shown
  const series = [groups.learned.rates, groups.holdout.rates];
  const oracle = Array(ROUNDS).fill(100 * oracleRate);
  console.log('\nengagement per round, % of each group: learned (green), holdout (yellow), oracle (grey)\n');
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
  console.log(row('holdout', series[1]));
  console.log(row('oracle', oracle));
  console.log();
  const share = (g, from = 0) => {
    const got = g.rates.slice(from).reduce((a, b) => a + b, 0) / 100;
    return ((100 * got) / ((ROUNDS - from) * oracleOf(g.people))).toFixed(1);
  };
  const last = Math.max(0, ROUNDS - 4);
  console.log('group     users  of oracle: all rounds  last 4 rounds   channel mix (SMS / CALL / EMAIL)');
  for (const [name, g] of Object.entries(groups)) {
    const mix = CHANNELS.map((c) => `${((100 * g.mix[c]) / g.total).toFixed(0)}%`).join(' / ');
    console.log(
      `${name.padEnd(9)} ${String(g.people.length).padStart(5)}  ${`${share(g)}%`.padStart(21)}  ${`${share(g, last)}%`.padStart(13)}   ${mix}`,
    );
  }
  const truth = CHANNELS.map((c) => `${((100 * people.filter((p) => p.favourite === c).length) / USERS).toFixed(0)}%`);
  console.log(
    `(recipients' hidden favourites: ${truth.join(' / ')}; the oracle earns ${(100 * oracleRate).toFixed(1)}% a round)`,
  );

  // ---- the lift, as GET /insights reports it (what an operator sees in production)
  const pc = (x) => `${(100 * x).toFixed(1)} %`;
  const iv = ([a, b], f) => `[${f(a)} – ${f(b)}]`;
  console.log(`\nGET /insights (${report.since} – ${report.until}):`);
  for (const name of ['learned', 'holdout']) {
    const g = report.groups[name];
    console.log(
      `  ${name.padEnd(8)} ${String(g.engaged).padStart(5)} engaged of ${String(g.notifications).padStart(5)}   ${pc(g.engagement.rate)} ${iv(g.engagement.interval, pc)}`,
    );
  }
  const { lift } = report;
  const pt = (x) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`;
  console.log(
    `  lift     ${pt(lift.difference)} points ${iv(lift.differenceInterval, pt)}, ×${lift.ratio.toFixed(2)} ${iv(lift.ratioInterval, (x) => x.toFixed(2))} (95 % intervals)`,
  );

  mkdirSync(out, { recursive: true });
  writeFileSync(`${out}/engagement.svg`, svgChart(series, oracle));
  const figures = Object.entries(groups).map(([name, g]) => ({
    group: name,
    users: g.people.length,
    perRound: g.rates,
    ofOracle: Number(share(g)),
    mix: g.mix,
  }));
  writeFileSync(
    `${out}/results.json`,
    `${JSON.stringify({ users: USERS, rounds: ROUNDS, holdoutPercent: HOLDOUT_PERCENT, oracleRate, figures, insights: report }, null, 2)}\n`,
  );
  await screenshots(s).catch((err) => console.log(`(no screenshots: ${err.message})`));
  console.log(
    `\nwritten: demo-output/engagement.svg, results.json, dashboard.png, insights.png  (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  );
} finally {
  await s.local.stop();
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
<text x="${pad}" y="20" font-size="13">Engagement per round (% of each group): learned (green), holdout (yellow), oracle (dashed)</text>
<text x="${w / 2 - 30}" y="${h - 8}" font-size="11">round 1 → ${ROUNDS}</text>
</svg>
`;
}

/** The dashboard (a notification opened) and the insights page (in Japanese), as a person sees them. */
async function screenshots(stackOf) {
  const chromium = (await import('@sparticuz/chromium')).default;
  const { chromium: pw } = await import('playwright-core');
  const browser = await pw.launch({
    executablePath: await chromium.executablePath(),
    args: chromium.args,
    headless: true,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${stackOf.local.sandboxUrl}/`);
    await page.waitForSelector('tr.notification');
    await page.click('tr.notification');
    await page.evaluate(() => document.fonts.ready);
    await page.waitForTimeout(500);
    await page.screenshot({ path: `${out}/dashboard.png` });

    const ja = await browser.newPage({ viewport: { width: 1280, height: 1000 }, locale: 'ja-JP' });
    // this headless browser has no Japanese fonts: Noto Sans JP (@fontsource) stands in for the system's,
    // served to the page from its own origin (fonts load cross-origin only with CORS)
    const fontDir = `${root}node_modules/@fontsource/noto-sans-jp/`;
    await ja.route('**/__fonts/**', (route) =>
      route.fulfill({ path: fontDir + new URL(route.request().url()).pathname.replace('/__fonts/', '') }),
    );
    await ja.route('**/insights.html', async (route) => {
      const served = await route.fetch();
      const html = (await served.text()).replace('</head>', '<link rel="stylesheet" href="/__fonts/400.css"></head>');
      await route.fulfill({ response: served, body: html });
    });
    await ja.goto(`${stackOf.local.functionsUrl}/insights.html`);
    await ja.evaluate((key) => sessionStorage.setItem('notify-insights-key', key), stackOf.key);
    await ja.reload();
    await ja.waitForSelector('[data-testid="group-learned"]');
    await ja.evaluate(() => document.fonts.ready);
    await ja.waitForTimeout(800);
    await ja.screenshot({ path: `${out}/insights.png`, fullPage: true });
  } finally {
    await browser.close();
  }
}
