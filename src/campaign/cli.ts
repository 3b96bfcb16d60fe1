/**
 * `npm run campaign -- send|cancel …`: one notification per CSV row through
 * /notify of a running service (deployed or local), exactly once however
 * often it is run, with bounded concurrency and rate, a progress bar, a
 * results CSV written as it goes and a summary; `cancel` cancels what a
 * campaign left pending. `--help` describes every option.
 */
import { printable } from './terminal';
import { MICROS, toMicros } from '../lib/costs/micros';
import { existsSync, readFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';
import { Command, InvalidArgumentError, Option } from 'commander';
import PQueue from 'p-queue';
import { type CampaignSpec, campaignIdProblem, type RowRequest, requestOf, unknownPlaceholders } from './requests';
import { DONE, doneIds, type Result, ResultsWriter, readResults, type Status } from './results';
import { approximateRows, type Encoding, encodingOf, readRows } from './rows';
import { type Connection, connection, LOCAL_URL, UsageError } from './connection';
import { type Answer, Service } from './service';

/** dry-run problems printed at most (the count says how many more) */
const SHOWN_PROBLEMS = 200;

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
  return n;
};

const whole = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a whole number above 0`);
  return n;
};

function textOption(inline: string | undefined, file: string | undefined, name: string): string | undefined {
  if (inline !== undefined && file !== undefined) throw new UsageError(`give --${name} or --${name}-file, not both`);
  if (file === undefined) return inline;
  if (!existsSync(file)) throw new UsageError(`--${name}-file ${file}: no such file`);
  return readFileSync(file, 'utf8');
}

interface SendOptions extends Connection {
  id: string;
  message?: string;
  messageFile?: string;
  subject?: string;
  subjectFile?: string;
  html?: string;
  htmlFile?: string;
  concurrency: number;
  rate: number;
  encoding: 'auto' | Encoding;
  results?: string;
  sendAt?: string;
  within?: string;
  keyColumn: string;
  locale?: string;
  dryRun?: boolean;
  template?: string;
  variable?: string[];
}

/** Counts for the progress line and the summary. */
class Tally {
  readonly byStatus = new Map<string, number>();
  readonly byChannel = new Map<string, number>();
  readonly byReason = new Map<string, number>();
  /** estimated spend per channel, in millionths (exact sums), and rows whose price is unknown */
  readonly spend = new Map<string, number>();
  unpriced = 0;
  currency?: string;
  retries = 0;

  add(r: Result | { status: string; channel?: string; reason?: string; cost?: string; currency?: string }) {
    const inc = (m: Map<string, number>, k: string | undefined, by = 1) => k && m.set(k, (m.get(k) ?? 0) + by);
    inc(this.byStatus, r.status);
    inc(this.byChannel, r.channel);
    inc(this.byReason, r.reason);
    if (r.channel && r.cost) inc(this.spend, r.channel, toMicros(Number(r.cost)));
    else if (r.channel && r.status !== 'duplicate' && r.status !== 'suppressed') this.unpriced++;
    this.currency ??= r.currency;
  }

  /** "SMS 1.594 USD, EMAIL 0.004 USD; total 1.598 USD (estimates)" */
  spendLine(): string {
    const unit = this.currency ?? '';
    const amount = (micros: number) => `${(micros / MICROS).toFixed(4)} ${unit}`.trim();
    const total = [...this.spend.values()].reduce((a, b) => a + b, 0);
    const per = [...this.spend].map(([c, m]) => `${c} ${amount(m)}`).join(', ');
    const unknown = this.unpriced ? `; ${this.unpriced} rows with no known price` : '';
    return `${per || 'none'}; total ${amount(total)} (estimated before sending)${unknown}`;
  }

  count(status: string) {
    return this.byStatus.get(status) ?? 0;
  }

  get settled() {
    return [...this.byStatus.values()].reduce((a, b) => a + b, 0);
  }

  line(map = this.byStatus) {
    return [...map].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  }
}

/** What this process cost: its peak memory and its CPU time per row (the service's time not included). */
function costLine(rows: number): string {
  const { user, system } = process.cpuUsage();
  const peakMb = process.resourceUsage().maxRSS / 1024;
  const perRow = rows ? ((user + system) / rows).toFixed(0) : '–';
  return `peak memory ${peakMb.toFixed(0)} MB, CPU ${((user + system) / 1000).toFixed(0)} ms (${perRow} µs per row)`;
}

/** What /notify's answer means for the row. */
function resultOf(req: RowRequest, answer: Answer | { lost: string }, stopping: boolean): Result {
  const base = { row: req.row, userId: req.userId, notificationId: req.notificationId };
  if ('lost' in answer) return { ...base, status: stopping ? 'interrupted' : 'failed', errorMessage: answer.lost };
  const { status, body } = answer;
  if (status === 200) {
    const outcome =
      (['sent', 'scheduled', 'duplicate', 'suppressed'] as const).find((s) => s === body.status) ?? 'sent';
    const cost = typeof body.cost === 'number' ? { cost: String(body.cost), currency: body.currency } : {};
    return { ...base, channel: body.channel, reason: body.reason, status: outcome, ...cost };
  }
  const error = body.error ?? {};
  const message = [error.field && `${error.field}:`, error.message ?? body.text].filter(Boolean).join(' ');
  const refused: Status = status === 400 || status === 422 ? 'invalid' : 'failed';
  return { ...base, status: refused, errorCode: String(error.code ?? status), errorMessage: message };
}

/** The progress bar (on stderr); without a terminal (CI, a log file) the same line every 10 s. */
function progressBar(total: number, tally: Tally) {
  const bar = new SingleBar({
    format: ' {bar} {value}/{total} rows | {speed} rows/s | ETA {eta_formatted} | {counts}',
    hideCursor: true,
    etaBuffer: 200,
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 10_000,
  });
  bar.start(total, 0, { speed: '0', counts: '' });
  const started = Date.now();
  return {
    update: () =>
      bar.update(tally.settled, {
        speed: (tally.settled / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1),
        counts: tally.line() + (tally.retries ? `, retries ${tally.retries}` : ''),
      }),
    stop: () => bar.stop(),
  };
}

/** --variable 1={{lastName}} (repeated): a WhatsApp template's variables, each a template of its own. */
function variablesOf(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const at = p.indexOf('=');
    if (at < 1) throw new UsageError(`--variable ${p}: give it as key=text, e.g. 1={{lastName}}`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}

/** The campaign as the options describe it (refused with what to fix before any row is read). */
function specOf(file: string, o: SendOptions): CampaignSpec {
  const idProblem = campaignIdProblem(o.id);
  if (idProblem) throw new UsageError(idProblem);
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  const message = textOption(o.message, o.messageFile, 'message');
  if (!message) throw new UsageError('a message is required: --message <text> or --message-file <file>');
  return {
    campaignId: o.id,
    templates: {
      message,
      subject: textOption(o.subject, o.subjectFile, 'subject'),
      html: textOption(o.html, o.htmlFile, 'html'),
    },
    ...(o.template ? { whatsapp: { template: o.template, variables: variablesOf(o.variable ?? []) } } : {}),
    keyColumn: o.keyColumn,
    sendAt: o.sendAt,
    within: o.within,
    locale: o.locale,
    // without a locale the service reads a row with its DEFAULT_LOCALE: assume the same here
    serviceLocale: process.env.DEFAULT_LOCALE ?? 'en-US',
  };
}

/** The file's rows, its header checked first against the columns the campaign needs. */
async function* rowsOf(file: string, encoding: Encoding, spec: CampaignSpec) {
  let header: string[] = [];
  for await (const read of readRows(file, encoding, (h) => (header = h))) {
    if (read.row === 1) {
      if (!header.includes('userId')) throw new UsageError(`${file}: the header has no userId column`);
      if (!header.includes(spec.keyColumn)) throw new UsageError(`${file}: the header has no ${spec.keyColumn} column`);
      const unknown = unknownPlaceholders(spec.templates, header, spec.whatsapp);
      if (unknown.length) {
        const names = unknown.map((p) => `{{${p}}}`).join(', ');
        throw new UsageError(`${names} name no column of ${file} (columns: ${header.join(', ')})`);
      }
    }
    yield read;
  }
}

/**
 * --dry-run: every row checked as /notify would check it, its problems shown, nothing sent. When
 * the service answers, each valid row's channel and estimated cost come from its /channel (the same
 * routing and prices /notify would use, nothing sent), summed per channel and in all.
 */
async function dryRun(file: string, encoding: Encoding, spec: CampaignSpec, o: SendOptions): Promise<number> {
  const tally = new Tally();
  const costs = new Tally();
  let shown = 0;
  const { url, key } = connection(o);
  const service = new Service({ url, key, attempts: 3 });
  const queue = new PQueue({
    concurrency: o.concurrency,
    intervalCap: Math.max(1, Math.round(o.rate)),
    interval: 1000,
  });
  let unreachable: string | undefined;
  for await (const { row, values } of rowsOf(file, encoding, spec)) {
    const req = requestOf(values, row, spec);
    tally.add({ status: req.problems.length ? 'invalid' : 'valid' });
    for (const p of req.problems)
      if (shown++ < SHOWN_PROBLEMS)
        console.log(printable(`row ${row}${req.userId ? ` (${req.userId})` : ''}: ${p.field}: ${p.message}`));
    if (req.problems.length || unreachable) continue;
    await queue.onSizeLessThan(o.concurrency);
    queue.add(async () => {
      const answer = await service.channel(req.params);
      if ('lost' in answer) unreachable ??= answer.lost;
      else if (answer.status === 200) costs.add(resultOf(req, answer, false));
      else costs.add({ status: 'unroutable' });
    });
  }
  await queue.onIdle();
  if (shown > SHOWN_PROBLEMS) console.log(`… and ${shown - SHOWN_PROBLEMS} more problems`);
  console.log(`dry run of ${file} (${encoding}): ${tally.line()}; nothing was sent`);
  if (unreachable) console.log(`  estimate:   none (${url} did not answer: ${unreachable})`);
  else {
    console.log(`  by channel: ${costs.line(costs.byChannel)} (as /channel routes them now)`);
    console.log(`  estimate:   ${costs.spendLine()}`);
    if (costs.count('unroutable'))
      console.log(`  unroutable: ${costs.count('unroutable')} rows (no reachable channel)`);
  }
  console.log(`  cost:       ${costLine(tally.settled)}`);
  return tally.count('invalid') ? 1 : 0;
}

/** Ctrl-C (or SIGTERM) stops reading rows and lets the requests under way finish; a second one quits at once. */
function stopOnSignal() {
  const state = { stopping: false, release: () => {} };
  const onSignal = () => {
    if (state.stopping) process.exit(130); // a second Ctrl-C: now
    state.stopping = true;
    process.stderr.write('\nstopping: finishing the requests under way (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  state.release = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return state;
}

/** A row the campaign refuses before sending it, as its result. */
function invalidRow(row: number, req: ReturnType<typeof requestOf>): Result {
  const errorMessage = req.problems.map((p) => `${p.field}: ${p.message}`).join('; ');
  const { userId, notificationId } = req;
  return { row, userId, notificationId, status: 'invalid', errorCode: 'invalid_row', errorMessage };
}

async function send(file: string, o: SendOptions): Promise<number> {
  const spec = specOf(file, o);
  const encoding = o.encoding === 'auto' ? await encodingOf(file) : o.encoding;
  if (o.dryRun) return dryRun(file, encoding, spec, o);
  const resultsPath = o.results ?? `${o.id}.results.csv`;
  const tally = new Tally();
  const started = Date.now();
  const { url, key } = connection(o);
  const done = await doneIds(resultsPath);
  const total = await approximateRows(file);
  // opened with the first result: a run refused before any row (its header) leaves no file
  let results: ResultsWriter | undefined;
  const signal = stopOnSignal();
  const service = new Service({ url, key, keepTrying: () => !signal.stopping, onRetry: () => tally.retries++ });
  const queue = new PQueue({
    concurrency: o.concurrency,
    intervalCap: Math.max(1, Math.round(o.rate)),
    interval: 1000,
  });
  const bar = progressBar(total, tally);
  const settle = (r: Result) => {
    results ??= new ResultsWriter(resultsPath);
    results.write(r);
    tally.add(r);
    bar.update();
  };
  let requested = 0;
  try {
    for await (const { row, values } of rowsOf(file, encoding, spec)) {
      if (signal.stopping) break;
      const req = requestOf(values, row, spec);
      if (req.notificationId && done.has(req.notificationId)) {
        tally.add({ status: 'already done' });
        bar.update();
      } else if (req.problems.length) settle(invalidRow(row, req));
      else {
        await queue.onSizeLessThan(o.concurrency); // read ahead only as far as the queue drains
        requested++;
        queue.add(async () => settle(resultOf(req, await service.notify(req.params), signal.stopping)));
      }
    }
  } finally {
    await queue.onIdle();
    results?.close();
    bar.stop();
    signal.release();
  }
  printSummary(o.id, tally, { seconds: (Date.now() - started) / 1000, requested, url, resultsPath });
  if (signal.stopping) {
    console.log('  interrupted: run the same command again to send the rest (nothing is sent twice)');
    return 130;
  }
  const bad = tally.count('invalid') + tally.count('failed') + tally.count('interrupted');
  return bad ? 1 : 0;
}

function printSummary(
  id: string,
  tally: Tally,
  run: { seconds: number; requested: number; url: string; resultsPath: string },
): void {
  const rate = run.requested / Math.max(0.001, run.seconds);
  console.log(
    `campaign ${id}: ${tally.settled} rows in ${run.seconds.toFixed(1)} s; ${run.requested} sent to ${run.url} (${rate.toFixed(1)}/s)`,
  );
  console.log(`  by status:  ${tally.line()}`);
  console.log(`  by channel: ${tally.line(tally.byChannel)}`);
  console.log(`  by reason:  ${tally.line(tally.byReason)}`);
  if (tally.retries) console.log(`  retried:    ${tally.retries} answers (429/503 or connection)`);
  const suppressed = tally.count('suppressed');
  if (suppressed)
    console.log(
      `  suppressed: ${suppressed} rows over the service's FREQUENCY_CAP (not sent; status suppressed in the results)`,
    );
  console.log(`  spend:      ${tally.spendLine()}`);
  console.log(`  results:    ${run.resultsPath}`);
  console.log(`  cost:       ${costLine(tally.settled)}`);
}

interface CancelOptions extends Connection {
  results: string;
  concurrency: number;
}

async function cancel(campaignId: string, o: CancelOptions): Promise<number> {
  if (!existsSync(o.results)) throw new UsageError(`${o.results}: no such file`);
  const { url, key } = connection(o);
  const latest = new Map<string, string>();
  for await (const r of readResults(o.results))
    if (r.notificationId?.startsWith(`${campaignId}.`)) latest.set(r.notificationId, r.status);
  const pending = [...latest].filter(([, status]) => DONE.has(status) && status !== 'suppressed').map(([id]) => id);
  const service = new Service({ url, key });
  const queue = new PQueue({ concurrency: o.concurrency });
  const tally = new Tally();
  const canceledChannels = new Map<string, number>();
  for (const id of pending) {
    queue.add(async () => {
      const answer = await service.cancel(id);
      if ('lost' in answer) {
        tally.add({ status: 'failed' });
        console.log(`${id}: ${answer.lost}`);
      } else if (answer.status === 200) {
        tally.add({ status: 'canceled' });
        for (const c of answer.body.canceled ?? []) canceledChannels.set(c, (canceledChannels.get(c) ?? 0) + 1);
      } else if (answer.status === 409) tally.add({ status: 'nothing pending' });
      else if (answer.status === 404) tally.add({ status: 'unknown' });
      else {
        tally.add({ status: 'failed' });
        console.log(`${id}: HTTP ${answer.status} ${answer.body.error?.message ?? ''}`);
      }
    });
  }
  await queue.onIdle();
  console.log(`campaign ${campaignId}: ${pending.length} notifications sent or scheduled in ${o.results}`);
  console.log(`  ${tally.line()}`);
  if (canceledChannels.size) console.log(`  scheduled copies cancelled: ${tally.line(canceledChannels)}`);
  return tally.count('failed') ? 1 : 0;
}

const program = new Command('campaign')
  .description('Send one notification per CSV row through /notify, exactly once; cancel what is pending.')
  .showHelpAfterError();

const connectionOptions = (c: Command) =>
  c
    .option('--url <url>', `the service's base URL (default: NOTIFY_URL, else ${LOCAL_URL})`)
    .option('--key <key>', "the service's NOTIFY_API_KEY (default: NOTIFY_API_KEY, else the local sandbox's)");

connectionOptions(
  program
    .command('send')
    .description('send one notification per row of a CSV through /notify (exactly once; resumable)')
    .argument(
      '<file.csv>',
      'header row with userId; phone, email, firstName, lastName, locale, channel, sendAt optional',
    )
    .requiredOption('--id <campaign-id>', 'the campaign id: each row is notification <id>.<userId> (or its hash)')
    .option('--message <text>', "message template; {{column}} is the row's value")
    .option('--message-file <file>', 'message template from a file')
    .option(
      '--template <name>',
      'WhatsApp template outside the 24-hour window: a name setup wrote (WHATSAPP_TEMPLATE_<NAME>) or a Content SID',
    )
    .option(
      '--variable <key=text>',
      'a WhatsApp template variable, {{column}} filled per row (repeat it: --variable 1={{lastName}})',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option('--subject <text>', 'email subject template')
    .option('--subject-file <file>', 'email subject template from a file')
    .option('--html <html>', 'HTML email body template (values are HTML-escaped)')
    .option('--html-file <file>', 'HTML email body template from a file'),
)
  .addOption(new Option('--concurrency <n>', 'requests under way at most').default(8).argParser(whole('--concurrency')))
  .addOption(new Option('--rate <n>', 'requests started per second at most').default(20).argParser(positive('--rate')))
  .addOption(
    new Option('--encoding <encoding>', "the CSV's encoding").choices(['auto', 'utf8', 'shift_jis']).default('auto'),
  )
  .option('--results <file>', 'results CSV, appended as rows settle (default: <campaign-id>.results.csv)')
  .option(
    '--send-at <time>',
    'schedule every row without its own sendAt (ISO 8601 with offset), or best: the learner picks channel and time per row',
  )
  .option(
    '--within <duration>',
    'with --send-at best: the window to pick the time in (ISO 8601 duration, default PT24H)',
  )
  .option('--key-column <column>', "the column that identifies a row's notification", 'userId')
  .option(
    '--locale <tag>',
    "locale of rows without one (default: the service's DEFAULT_LOCALE); phone numbers are read for its country",
  )
  .option(
    '--dry-run',
    "check every row and print the problems; with the service up, estimate each channel's cost; send nothing",
  )
  .action(async (file: string, o: SendOptions) => {
    process.exitCode = await send(file, o);
  });

connectionOptions(
  program
    .command('cancel')
    .description('cancel every notification of a campaign that still has something pending')
    .argument('<campaign-id>', 'the campaign whose pending notifications are cancelled')
    .requiredOption('--results <file>', "the results CSV of the campaign's send")
    .addOption(
      new Option('--concurrency <n>', 'requests under way at most').default(8).argParser(whole('--concurrency')),
    ),
).action(async (campaignId: string, o: CancelOptions) => {
  process.exitCode = await cancel(campaignId, o);
});

program.parseAsync(process.argv).catch((err) => {
  console.error(`campaign: ${(err as Error).message}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
