// `npm run bench:campaign`: the campaign CLI against the local sandbox.
//   1. sends a 10,000-row campaign through /notify (the functions under
//      twilio-run, the sandbox's providers) and prints rows per second, the
//      CLI's peak memory and its own CPU time per row;
//   2. checks a 1,000,000-row file with --dry-run and prints its peak memory
//      (it must stay under 150 MB: the file is streamed).
//   node scripts/campaign-bench.mjs [rows=10000] [dryRunRows=1000000]
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const ROWS = Number(process.argv[2] ?? 10_000);
const DRY_ROWS = Number(process.argv[3] ?? 1_000_000);
const dir = `${root}.build/campaign-bench`;
mkdirSync(dir, { recursive: true });

async function writeCsv(path, rows) {
  const out = createWriteStream(path);
  out.write('userId,phone,email,firstName,lastName,locale,clinic\n');
  for (let i = 1; i <= rows; i++) {
    const line = `bench-${i},+8190${String(10_000_000 + (i % 90_000_000)).padStart(8, '0')},b${i}@example.jp,名前${i},山田,ja-JP,渋谷クリニック\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

const cli = (args) => {
  const res = spawnSync(process.execPath, [`${root}.build/campaign/cli.cjs`, ...args], { cwd: dir, encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`campaign ${args[0]} failed (${res.status}): ${res.stdout}${res.stderr}`);
  return res.stdout;
};
const cost = (out) => out.match(/cost: +(.*)/)[1];

execFileSync(process.execPath, [`${root}scripts/build.mjs`, '--no-typecheck'], { stdio: 'ignore' });
execFileSync(process.execPath, [`${root}scripts/campaign.mjs`, '--help'], { stdio: 'ignore' });
const { launchLocal, freePort, sandboxFunctionEnv } = createRequire(import.meta.url)(`${root}.build/sandbox/launch.js`);
const stack = await launchLocal({
  root,
  functionsPort: await freePort(),
  sandboxPort: await freePort(),
  stdio: openSync(`${dir}/stack.log`, 'w'), // read it when a run fails
});
try {
  // no simulated recipients: the bench measures sending, not the callbacks that would follow
  await fetch(`${stack.sandboxUrl}/sandbox/reset`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ simulate: false }),
  });
  await writeCsv(`${dir}/send.csv`, ROWS);
  const key = sandboxFunctionEnv(stack.sandboxUrl).NOTIFY_API_KEY;
  const started = Date.now();
  const out = cli([
    'send',
    'send.csv',
    '--id',
    `bench${Date.now()}`,
    '--message',
    '{{firstName}}様、{{clinic}}のご予約は明日です',
    '--url',
    stack.functionsUrl,
    '--key',
    key,
    '--concurrency',
    '16',
    '--rate',
    '1000',
    '--results',
    `send-${started}.csv`,
  ]);
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `send ${ROWS} rows: ${(ROWS / seconds).toFixed(0)} rows/s (${seconds.toFixed(1)} s, concurrency 16), CLI ${cost(out)}`,
  );
} finally {
  await stack.stop();
}

await writeCsv(`${dir}/dry.csv`, DRY_ROWS);
const started = Date.now();
const dry = cli([
  'send',
  'dry.csv',
  '--id',
  'dry',
  '--message',
  '{{firstName}}様、{{clinic}}のご予約は明日です',
  '--dry-run',
]);
const seconds = (Date.now() - started) / 1000;
console.log(
  `dry run ${DRY_ROWS} rows: ${(DRY_ROWS / seconds).toFixed(0)} rows/s (${seconds.toFixed(1)} s), ${cost(dry)}`,
);
