/**
 * Twilio Functions' front door, in front of twilio-run (which enforces none
 * of it): a request body over 1 MB is refused (413), and an invocation still
 * unanswered at 10 s is answered 504 with error 82002, as Twilio's gateway
 * does when it kills a function. Every invocation's wall time is recorded,
 * so tests and benches can show that none came near the limit. (twilio-run
 * keeps running what Twilio would have killed; the 504 and the record say so.)
 */
import { createServer, request, type Server } from 'node:http';
import { isLoopbackHost } from './settings';

export const FUNCTION_BODY_LIMIT = 1024 * 1024;
export const FUNCTION_TIME_LIMIT_MS = 10_000;

export interface Invocation {
  path: string;
  status: number;
  ms: number;
}

export interface InvocationStats {
  count: number;
  maxMs: number;
  /** the slowest invocations (path, status, ms), slowest first */
  slowest: Invocation[];
  /** invocations Twilio would have killed (10 s) */
  killed: number;
  /** bodies refused for size */
  tooLarge: number;
  /** invocations answered 5xx (the kills included) */
  serverErrors: number;
  byStatus: Record<string, number>;
}

export class InvocationLog {
  private all: Invocation[] = [];
  private tooLarge = 0;

  record(i: Invocation): void {
    this.all.push(i);
    if (this.all.length > 100_000) this.all.splice(0, 50_000);
  }

  refusedForSize(): void {
    this.tooLarge++;
  }

  stats(): InvocationStats {
    const byStatus: Record<string, number> = {};
    for (const i of this.all) byStatus[i.status] = (byStatus[i.status] ?? 0) + 1;
    const slowest = [...this.all].sort((a, b) => b.ms - a.ms).slice(0, 5);
    return {
      count: this.all.length,
      maxMs: slowest[0]?.ms ?? 0,
      slowest,
      killed: this.all.filter((i) => i.ms >= FUNCTION_TIME_LIMIT_MS).length,
      tooLarge: this.tooLarge,
      serverErrors: this.all.filter((i) => i.status >= 500).length,
      byStatus,
    };
  }

  reset(): void {
    this.all = [];
    this.tooLarge = 0;
  }
}

/** The host name of a Host header (`localhost:3000`, `[::1]:3000`), without the port. */
function hostOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  try {
    return new URL(`http://${header}`).hostname;
  } catch {
    return undefined;
  }
}

const json = (status: number, body: object) => ({
  status,
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
});

/** Serves `port` (loopback only) and forwards to twilio-run on `targetPort`, Host header kept (signatures cover it). */
export function startFunctionsRuntime(port: number, targetPort: number, log: InvocationLog): Promise<Server[]> {
  const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const started = process.hrtime.bigint();
    const path = (req.url ?? '/').split('?')[0];
    let done = false;
    const finish = (status: number) => {
      if (done) return false;
      done = true;
      log.record({ path, status, ms: Math.round(Number(process.hrtime.bigint() - started) / 1e6) });
      return true;
    };
    // DNS rebinding: a page on a name that resolves to 127.0.0.1 reaches this port with its own
    // name in Host. Only loopback names are served (Twilio's front door serves its own domains only).
    const hostname = hostOf(req.headers.host);
    if (!hostname || !isLoopbackHost(hostname)) {
      finish(403);
      const r = json(403, { code: 403, message: `Host ${hostname ?? '(none)'} is not served here` });
      res.writeHead(r.status, { ...r.headers, Connection: 'close' });
      res.end(r.body);
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    const refuseSize = () => {
      log.refusedForSize();
      const r = json(413, { code: 413, message: 'Request body exceeds the 1 MB limit of Twilio Functions' });
      res.writeHead(r.status, { ...r.headers, Connection: 'close' });
      res.end(r.body);
      req.resume();
    };
    if (declared > FUNCTION_BODY_LIMIT) return refuseSize();
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        if (!finish(answer.statusCode ?? 502)) return answer.resume();
        clearTimeout(kill);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    const kill = setTimeout(() => {
      if (!finish(504)) return;
      const r = json(504, {
        code: 82002,
        message: 'Error on Twilio Function response: the function did not answer within 10 s',
        more_info: 'https://www.twilio.com/docs/errors/82002',
      });
      res.writeHead(r.status, r.headers);
      res.end(r.body);
    }, FUNCTION_TIME_LIMIT_MS);
    upstream.on('error', () => {
      clearTimeout(kill);
      if (!finish(502)) return;
      const r = json(502, { code: 502, message: 'the functions are not running' });
      res.writeHead(r.status, r.headers);
      res.end(r.body);
    });
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > FUNCTION_BODY_LIMIT && !done) {
        done = true;
        clearTimeout(kill);
        upstream.destroy();
        refuseSize();
        return;
      }
      if (!done) upstream.write(chunk);
    });
    req.on('end', () => upstream.end());
  };
  const listen = (host: string) =>
    new Promise<Server | undefined>((resolve, reject) => {
      const server = createServer(handler);
      server.keepAliveTimeout = 65_000;
      server.once('error', (err: NodeJS.ErrnoException) =>
        // no IPv6 loopback on this machine: IPv4 alone serves "localhost"
        host === '::1' && err.code === 'EADDRNOTAVAIL' ? resolve(undefined) : reject(err),
      );
      server.listen(port, host, () => resolve(server));
    });
  // "localhost" may resolve to either loopback address
  return Promise.all([listen('127.0.0.1'), listen('::1')]).then((s) => s.filter((x): x is Server => !!x));
}
