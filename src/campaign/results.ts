/**
 * The results CSV: one line per row attempted, appended as each row settles
 * (one write per line, so an interrupted run leaves whole lines), and read
 * back by a re-run to skip rows already done and by `cancel`.
 */
import { createReadStream, existsSync, openSync, readSync, statSync, writeSync, closeSync } from 'node:fs';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';

export const RESULT_COLUMNS = [
  'row',
  'userId',
  'notificationId',
  'channel',
  'reason',
  'status',
  'errorCode',
  'errorMessage',
  'cost',
  'currency',
] as const;

export type Status = 'sent' | 'scheduled' | 'duplicate' | 'suppressed' | 'invalid' | 'failed' | 'interrupted';

/**
 * Statuses of a row that is done: a re-run skips it (the service would answer duplicate anyway; a
 * row suppressed by the frequency cap stays suppressed under its id).
 */
export const DONE: ReadonlySet<string> = new Set<Status>(['sent', 'scheduled', 'duplicate', 'suppressed']);

export interface Result {
  row: number;
  userId?: string;
  notificationId?: string;
  channel?: string;
  reason?: string;
  status: Status;
  errorCode?: string;
  errorMessage?: string;
  /** the service's estimate of what the row's send costs (its first step), in `currency` */
  cost?: string;
  currency?: string;
}

export class ResultsWriter {
  private readonly fd: number;

  constructor(path: string) {
    const fresh = !existsSync(path) || statSync(path).size === 0;
    this.fd = openSync(path, 'a+');
    if (fresh) writeSync(this.fd, stringify([[...RESULT_COLUMNS]]));
    else if (!endsWithNewline(this.fd, statSync(path).size)) writeSync(this.fd, '\n'); // a line cut by a kill
  }

  write(r: Result): void {
    // a cell from the input (an invalid row's userId or message) opened in Excel must not be a formula
    writeSync(this.fd, stringify([RESULT_COLUMNS.map((c) => r[c] ?? '')], { escape_formulas: true }));
  }

  close(): void {
    closeSync(this.fd);
  }
}

function endsWithNewline(fd: number, size: number): boolean {
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

/** The results file's lines, streamed; lines cut short by an interrupted run are skipped. */
export async function* readResults(path: string): AsyncGenerator<Result> {
  if (!existsSync(path)) return;
  const parser = createReadStream(path).pipe(
    parse({ columns: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true }),
  );
  for await (const line of parser as AsyncIterable<Record<string, string>>) {
    if (!line.status || !line.row) continue;
    yield {
      row: Number(line.row),
      userId: line.userId || undefined,
      notificationId: line.notificationId || undefined,
      channel: line.channel || undefined,
      reason: line.reason || undefined,
      status: line.status as Status,
      errorCode: line.errorCode || undefined,
      errorMessage: line.errorMessage || undefined,
      cost: line.cost || undefined,
      currency: line.currency || undefined,
    };
  }
}

/** Notification ids whose latest line says done. */
export async function doneIds(path: string): Promise<Set<string>> {
  const done = new Set<string>();
  for await (const r of readResults(path)) {
    if (!r.notificationId) continue;
    if (DONE.has(r.status)) done.add(r.notificationId);
    else done.delete(r.notificationId);
  }
  return done;
}
