/**
 * The campaign CLI (`npm run campaign`) run as a user runs it, as a child
 * process, against the suite's running functions and sandbox: invalid rows,
 * a run interrupted (Ctrl-C, then killed) and run again, a Shift_JIS file,
 * provider throttling, and cancelling a scheduled campaign. Sends are counted
 * at the providers (the sandbox's message, call and email requests).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { API_KEY, sandbox, stack } from './helpers';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, '.build/campaign/cli.cjs');
const dir = mkdtempSync(join(tmpdir(), 'campaign-'));

beforeAll(() => {
  // bundled once here; each run below is then `node cli.cjs`, as `npm run campaign` runs it
  execFileSync(process.execPath, [join(ROOT, 'scripts/campaign.mjs'), '--help'], { stdio: 'ignore' });
});
beforeEach(() => sandbox.reset(false));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [CLI, ...args, '--url', stack.functionsUrl, '--key', API_KEY], {
    cwd: dir,
    env: { ...process.env, NOTIFY_URL: '', NOTIFY_API_KEY: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}
const run = (args: string[]) => start(args).done;

/** Rows of a results CSV (header dropped), as objects. */
function results(file: string): Array<Record<string, string>> {
  const [header, ...lines] = readFileSync(join(dir, file), 'utf8').trim().split('\n');
  const names = header.split(',');
  return lines.map((l) => {
    const cells = l.match(/("([^"]|"")*"|[^,]*)(,|$)/g)?.map((c) => c.replace(/,$/, '').replace(/^"|"$/g, '')) ?? [];
    return Object.fromEntries(names.map((n, i) => [n, cells[i] ?? '']));
  });
}

/** Every provider request (SMS, call, email) by the notification id it carries. */
async function sends(): Promise<Map<string, number>> {
  const ids: string[] = [];
  for (const m of [...(await sandbox.messages()), ...(await sandbox.calls())])
    ids.push(new URL(m.request.StatusCallback).searchParams.get('notificationId') as string);
  for (const e of await sandbox.emails()) ids.push(e.request.custom_args.notification_id);
  const counted = new Map<string, number>();
  for (const id of ids) counted.set(id, (counted.get(id) ?? 0) + 1);
  return counted;
}

/** n rows; every 10th row's phone is invalid, every 25th has no userId, every 40th no firstName (a placeholder). */
function csv(n: number, name: string) {
  const lines = ['userId,phone,email,firstName,lastName,locale,clinic'];
  for (let i = 1; i <= n; i++) {
    const phone = i % 10 === 0 ? '+81 12' : `+8190${String(30_000_000 + i)}`;
    lines.push(
      `${i % 25 === 0 ? '' : `cu-${i}`},${phone},cu${i}@example.jp,${i % 40 === 0 ? '' : `名前${i}`},山田,ja-JP,"Clinic, ${i}"`,
    );
  }
  writeFileSync(join(dir, name), `${lines.join('\n')}\n`);
  const invalid = new Set<number>();
  for (let i = 1; i <= n; i++) if (i % 10 === 0 || i % 25 === 0 || i % 40 === 0) invalid.add(i);
  return { valid: n - invalid.size, invalid };
}

const MESSAGE = ['--message', '{{firstName}}様、{{clinic}}のご予約は明日です'];

test('500 rows with invalid ones: each valid row sent once, each invalid one reported with its reason', async () => {
  const { valid, invalid } = csv(500, 'list.csv');
  const first = await run(['send', 'list.csv', '--id', 'c500', ...MESSAGE, '--rate', '500', '--concurrency', '8']);
  expect(first.code).toBe(1); // not every row succeeded
  expect(first.stdout).toContain(`by status:  `);
  const rows = results('c500.results.csv');
  expect(rows).toHaveLength(500);
  const bad = rows.filter((r) => r.status === 'invalid');
  expect(bad.map((r) => Number(r.row)).sort((a, b) => a - b)).toEqual([...invalid].sort((a, b) => a - b));
  expect(bad.find((r) => r.row === '10')?.errorMessage).toContain('phone is not a valid phone number');
  expect(bad.find((r) => r.row === '25')?.errorMessage).toContain('userId is required');
  expect(bad.find((r) => r.row === '40')?.errorMessage).toContain('{{firstName}} has no value');
  expect(rows.filter((r) => r.status === 'sent')).toHaveLength(valid);
  // each sent row carries its estimated cost, and the summary adds them up
  const sent = rows.filter((r) => r.status === 'sent');
  expect(sent.filter((r) => r.cost === '' || r.currency !== 'USD')).toEqual([]);
  const total = sent.reduce((a, r) => a + Math.round(Number(r.cost) * 1e6), 0) / 1e6;
  expect(first.stdout).toContain(`total ${total.toFixed(4)} USD (estimated before sending)`);
  const counted = await sends();
  expect(counted.size).toBe(valid);
  expect([...counted.values()].every((n) => n === 1)).toBe(true);

  // the same command again: nothing is sent twice
  const again = await run(['send', 'list.csv', '--id', 'c500', ...MESSAGE, '--rate', '500']);
  expect(again.stdout).toContain(`already done ${valid}`);
  expect((await sends()).size).toBe(valid);

  // a placeholder no column has: refused before anything is sent
  const unknown = await run(['send', 'list.csv', '--id', 'c500b', '--message', '{{nickname}}さん']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toContain('{{nickname}} name no column');
  expect(existsSync(join(dir, 'c500b.results.csv'))).toBe(false);
}, 60_000);

test('interrupted by Ctrl-C, then killed, then run again: exactly one send per valid row', async () => {
  const { valid } = csv(300, 'resume.csv');
  const args = ['send', 'resume.csv', '--id', 'resume', ...MESSAGE, '--rate', '60', '--concurrency', '4'];
  const lines = () => (existsSync(join(dir, 'resume.results.csv')) ? results('resume.results.csv').length : 0);
  const until = async (n: number) => {
    while (lines() < n) await new Promise((r) => setTimeout(r, 20));
  };

  const interrupted = start(args);
  await until(40);
  interrupted.child.kill('SIGINT');
  const stopped = await interrupted.done;
  expect(stopped.code).toBe(130);
  expect(stopped.stdout).toContain('interrupted');
  const afterInterrupt = results('resume.results.csv');
  expect(afterInterrupt.every((r) => r.status && r.row)).toBe(true); // whole lines only
  expect(afterInterrupt.length).toBeLessThan(300);

  const killed = start(args);
  await until(afterInterrupt.length + 60);
  killed.child.kill('SIGKILL');
  expect((await killed.done).signal).toBe('SIGKILL');

  const last = await run(args);
  expect(last.code).toBe(1); // the invalid rows
  const counted = await sends();
  expect(counted.size).toBe(valid);
  expect([...counted.entries()].filter(([, n]) => n !== 1)).toEqual([]);
}, 60_000);

test('a Shift_JIS file (as Excel in Japan saves it) is detected and its Japanese names are in the messages', async () => {
  const text =
    'userId,phone,channel,firstName,lastName\nsj-1,09012345671,sms,山田,花子\nsj-2,09012345672,sms,佐藤,健\n';
  writeFileSync(join(dir, 'sjis.csv'), iconv.encode(text, 'shift_jis'));
  const res = await run([
    'send',
    'sjis.csv',
    '--id',
    'sjis',
    '--message',
    '{{lastName}} {{firstName}}様 ご来店ありがとうございます',
    '--locale',
    'ja-JP',
  ]);
  expect(res.code).toBe(0);
  const bodies = (await sandbox.messages()).map((m: { request: { Body: string } }) => m.request.Body).sort();
  expect(bodies).toEqual(['健 佐藤様 ご来店ありがとうございます', '花子 山田様 ご来店ありがとうございます']);
  expect((await sandbox.messages()).map((m: { request: { To: string } }) => m.request.To).sort()).toEqual([
    '+819012345671',
    '+819012345672',
  ]);
});

test('provider throttling slows the campaign but loses and duplicates nothing', async () => {
  const lines = ['userId,phone'];
  for (let i = 1; i <= 60; i++) lines.push(`th-${i},+8190${String(40_000_000 + i)}`);
  writeFileSync(join(dir, 'throttle.csv'), `${lines.join('\n')}\n`);
  // a Retry-After longer than one invocation waits (upstream.ts): /notify answers 429 and the CLI retries
  await sandbox.fault({ api: 'twilio', status: 429, headers: { 'Retry-After': '5' }, count: 30, method: 'POST' });
  const res = await run(['send', 'throttle.csv', '--id', 'thr', '--message', 'x', '--rate', '100']);
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/retried: +\d+ answers/);
  expect(results('thr.results.csv').map((r) => r.status)).toEqual(Array(60).fill('sent'));
  const counted = await sends();
  expect(counted.size).toBe(60);
  expect([...counted.values()].every((n) => n === 1)).toBe(true);
}, 60_000);

test('cancel: every scheduled notification of a campaign is cancelled at the provider', async () => {
  const lines = ['userId,phone,channel'];
  for (let i = 1; i <= 12; i++) lines.push(`sc-${i},+8190${String(50_000_000 + i)},sms`);
  writeFileSync(join(dir, 'sched.csv'), `${lines.join('\n')}\n`);
  const at = new Date(Date.now() + 2 * 3600_000).toISOString();
  const sent = await run(['send', 'sched.csv', '--id', 'sched', '--message', '明日', '--send-at', at]);
  expect(sent.code).toBe(0);
  expect(results('sched.results.csv').map((r) => r.status)).toEqual(Array(12).fill('scheduled'));

  const canceled = await run(['cancel', 'sched', '--results', 'sched.results.csv']);
  expect(canceled.code).toBe(0);
  expect(canceled.stdout).toContain('canceled 12');
  const statuses = (await sandbox.messages()).map((m: { resource: { status: string } }) => m.resource.status);
  expect(statuses).toEqual(Array(12).fill('canceled'));
}, 60_000);

test('--dry-run estimates the cost per channel and in all, as /channel routes and prices each row, sending nothing', async () => {
  csv(30, 'estimate.csv');
  const res = await run(['send', 'estimate.csv', '--id', 'estimate', ...MESSAGE, '--dry-run']);
  expect(res.stdout).toMatch(/by channel: .*\d/);
  const line = /estimate: {3}(.*); total (\d+\.\d{4}) USD \(estimated before sending\)/.exec(res.stdout);
  expect(line).not.toBeNull();
  // the per-channel figures add up to the total
  const parts = [...(line?.[1] ?? '').matchAll(/(SMS|CALL|EMAIL) (\d+\.\d{4}) USD/g)].map((m) => Number(m[2]));
  expect(parts.length).toBeGreaterThan(0);
  expect(parts.reduce((a, b) => a + b, 0)).toBeCloseTo(Number(line?.[2]), 3);
  expect((await sends()).size).toBe(0);
});

test('--dry-run prints each problem by row and sends nothing', async () => {
  csv(80, 'dry.csv');
  const res = await run([
    'send',
    'dry.csv',
    '--id',
    'dry',
    ...MESSAGE,
    '--dry-run',
    '--send-at',
    '2020-01-01T09:00:00+09:00',
  ]);
  expect(res.code).toBe(1);
  expect(res.stdout).toContain('row 10 (cu-10): phone: phone is not a valid phone number');
  expect(res.stdout).toContain('row 25: userId: userId is required');
  expect(res.stdout).toMatch(/row 1 \(cu-1\): sendAt: sendAt is -?\d+ minutes ahead/);
  expect(res.stdout).toContain('nothing was sent');
  expect((await sends()).size).toBe(0);
  expect(existsSync(join(dir, 'dry.results.csv'))).toBe(false);
});
