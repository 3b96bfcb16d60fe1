/**
 * `npm run dead-letters -- list|retry|drop [--parcel NAME]`: the parcels recovery gave up on after
 * MAX_PARCEL_TRIES attempts (store/dead-letters.ts), listed, put back to be retried, or dropped for
 * good, through POST /recover of a running service (deployed or local).
 */
import { Command } from 'commander';
import { connection, LOCAL_URL, UsageError } from '../campaign/connection';
import type { DeadLetter } from '../lib/store/dead-letters';

interface Options {
  url?: string;
  key?: string;
  parcel?: string;
}

async function run(action: string, o: Options): Promise<void> {
  if (!['list', 'retry', 'drop'].includes(action)) throw new UsageError(`${action}: say list, retry or drop`);
  const { url, key } = connection(o);
  const res = await fetch(`${url.replace(/\/+$/, '')}/recover`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ deadLetters: action, ...(o.parcel ? { parcel: o.parcel } : {}) }),
  });
  const body = (await res.json().catch(() => ({}))) as {
    deadLetters?: DeadLetter[];
    retried?: string[];
    dropped?: string[];
    error?: { message?: string };
  };
  if (!res.ok) throw new Error(`${url}/recover answered ${res.status}: ${body.error?.message ?? 'no message'}`);
  if (body.retried) console.log(`Retried ${body.retried.length}: ${body.retried.join(', ') || 'none'}`);
  if (body.dropped) console.log(`Dropped ${body.dropped.length}: ${body.dropped.join(', ') || 'none'}`);
  const left = body.deadLetters ?? [];
  console.log(left.length ? `${left.length} dead letter${left.length > 1 ? 's' : ''}:` : 'No dead letters.');
  for (const l of left)
    console.log(
      `  ${l.parcel}  ${l.kind}, ${l.items} item(s), ${l.tries} tries, since ${l.at}\n    last error: ${l.error}`,
    );
}

const program = new Command('dead-letters')
  .description('list, retry or drop the parcels recovery gave up on')
  .argument('[action]', 'list, retry or drop', 'list')
  .option('--parcel <name>', 'only this one (default: all)')
  .option('--url <url>', `the service's base URL (default: NOTIFY_URL, else ${LOCAL_URL})`)
  .option('--key <key>', "the service's NOTIFY_API_KEY (default: NOTIFY_API_KEY, else the local service's)")
  .action((action: string, o: Options) => run(action, o));

program.parseAsync().catch((err: Error) => {
  console.error(err.message);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
