/** Which running service a command-line tool talks to (`npm run campaign`, `npm run dead-letters`), and with what key. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

export const LOCAL_URL = 'http://localhost:3000';

/** A mistake in how a tool was called: exit code 2. */
export class UsageError extends Error {}

export interface Connection {
  url?: string;
  key?: string;
}

/**
 * The service's URL and key: the options, else NOTIFY_URL / NOTIFY_API_KEY, else the local
 * service, whose key `npm start` wrote to .build/sandbox-<port>.env when it runs on the sandbox.
 */
export function connection(o: Connection): { url: string; key: string } {
  const url = o.url ?? process.env.NOTIFY_URL ?? LOCAL_URL;
  let key = o.key ?? process.env.NOTIFY_API_KEY;
  const local = /^http:\/\/(localhost|127\.0\.0\.1):(\d+)/.exec(url);
  if (!key && local) {
    for (const file of [`.build/sandbox-${local[2]}.env`, '.env']) {
      const path = join(process.cwd(), file);
      if (!key && existsSync(path)) key = parseEnv(readFileSync(path, 'utf8')).NOTIFY_API_KEY;
    }
  }
  if (!key) throw new UsageError("no API key: pass --key or set NOTIFY_API_KEY (the service's NOTIFY_API_KEY)");
  return { url, key };
}
