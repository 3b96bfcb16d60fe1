/**
 * Twilio Sync's REST API (v1 Documents and Lists), the calls the stores make,
 * over undici's connection pool. Why not the twilio SDK here: measured
 * against the sandbox, the SDK spends about 0.35 ms of CPU per request
 * (axios, its resource objects) and Node's fetch about the same, against
 * 0.06 ms for a plain request; a webhook batch makes thousands of Sync
 * requests, so that difference alone was most of its CPU. Why undici rather
 * than node:http: the campaign batch (3,600 Sync requests) in a fresh process
 * took 0.1-0.3 s less CPU (npm run bench:scale, npm run bench:batch-cpu); a
 * warm one, about the same.
 *
 * Every request goes through the invocation's upstream budget (upstream.ts).
 * Errors are thrown as SyncError, with Twilio's HTTP status and error code
 * (54103 revision mismatch, 54301 unique name taken, 54009 throttled, …), the
 * shape twilioErrorCode and isNotFound read.
 */
import type { Pool } from 'undici';
import type { Config } from '../config';
import { mayRepeat, Upstream } from '../upstream';

export const SYNC_TIMEOUT_MS = 4000;
const SYNC_BASE_URL = 'https://sync.twilio.com';

/** one pool per origin for the container's life (the invocation's upstream budget bounds what is in flight) */
const pools = new Map<string, Pool>();
function poolFor(origin: string): Pool {
  let pool = pools.get(origin);
  if (!pool) {
    // a connection (and TLS) taking longer than a request may is a timeout too, as with node:http's
    // socket timeout (undici's own default is 10 s: the whole of a function's time)
    // undici is loaded at the first Sync request, not with the function: it is 0.7× the twilio SDK's
    // own load time, which /health and a request refused before Sync need not pay (npm run bench)
    const { Pool: UndiciPool } = require('undici') as typeof import('undici');
    pool = new UndiciPool(origin, { connections: 128, connect: { timeout: SYNC_TIMEOUT_MS } });
    pools.set(origin, pool);
  }
  return pool;
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** undici's errors in the shapes errors.ts and log.ts know: a timeout, or a dropped connection */
function networkError(err: Error & { code?: string }, timeoutMs: number): Error {
  if (err.code && TIMEOUT_CODES.has(err.code)) {
    const timeout = new Error(`Sync did not answer within ${timeoutMs} ms`);
    timeout.name = 'TimeoutError';
    return timeout;
  }
  if (err.code === 'UND_ERR_SOCKET')
    return Object.assign(new Error('Sync closed the connection'), { code: 'ECONNRESET' });
  return err;
}

/** The Sync error codes the stores act on, by name (https://www.twilio.com/docs/api/errors). */
export const SYNC_ERROR = {
  /** If-Match named a revision that is no longer the document's (HTTP 412) */
  revisionMismatch: 54103,
  /** a unique name already taken in the service (HTTP 409) */
  uniqueNameTaken: 54301,
} as const;
const codeOf = (err: unknown) => (err as { code?: unknown })?.code;
/** Another writer created the name first. */
export const isUniqueNameTaken = (err: unknown) => codeOf(err) === SYNC_ERROR.uniqueNameTaken;
/** Another writer changed the document since it was read. */
export const isRevisionMismatch = (err: unknown) => codeOf(err) === SYNC_ERROR.revisionMismatch;

export class SyncError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'SyncError';
  }
}

export interface SyncDocument {
  data: unknown;
  revision: string;
}

export interface SyncListItem {
  index: number;
  data: unknown;
}

interface Answer {
  status: number;
  retryAfter?: string;
  body: Record<string, unknown>;
}

/** application/x-www-form-urlencoded, as Twilio's API takes it */
const form = (fields: Record<string, string | number | undefined>) =>
  Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');

export class SyncClient {
  private readonly base: URL;
  private readonly auth: string;
  private readonly prefix: string;

  constructor(
    config: Config,
    private readonly upstream = new Upstream(),
  ) {
    this.base = new URL(config.twilioApiBaseUrl ?? SYNC_BASE_URL);
    this.auth = `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`;
    this.prefix = `${this.base.pathname.replace(/\/$/, '')}/v1/Services/${encodeURIComponent(config.syncServiceSid)}`;
  }

  async fetchDocument(name: string): Promise<SyncDocument> {
    const body = await this.send('GET', `/Documents/${encodeURIComponent(name)}`);
    return { data: body.data, revision: String(body.revision) };
  }

  async createDocument(name: string, data: unknown, ttl?: number): Promise<SyncDocument> {
    const body = await this.send(
      'POST',
      '/Documents',
      form({ UniqueName: name, Data: JSON.stringify(data), Ttl: ttl }),
    );
    return { data: body.data, revision: String(body.revision) };
  }

  /** Writes the document; with `ifMatch`, only over that revision (else 412, code 54103). */
  async updateDocument(name: string, data: unknown, opts: { ifMatch?: string; ttl?: number } = {}) {
    const body = await this.send(
      'POST',
      `/Documents/${encodeURIComponent(name)}`,
      form({ Data: JSON.stringify(data), Ttl: opts.ttl }),
      opts.ifMatch,
    );
    return { data: body.data, revision: String(body.revision) };
  }

  async removeDocument(name: string): Promise<void> {
    await this.send('DELETE', `/Documents/${encodeURIComponent(name)}`);
  }

  async createList(name: string): Promise<void> {
    await this.send('POST', '/Lists', form({ UniqueName: name }));
  }

  async appendListItem(list: string, data: unknown, itemTtl?: number): Promise<SyncListItem> {
    const body = await this.send(
      'POST',
      `/Lists/${encodeURIComponent(list)}/Items`,
      form({ Data: JSON.stringify(data), ItemTtl: itemTtl }),
    );
    return { index: Number(body.index), data: body.data };
  }

  /** One page of a list's items in ascending order, after index `from` (exclusive) when given. */
  async listItemsAfter(list: string, pageSize: number, from?: number): Promise<SyncListItem[]> {
    const query = new URLSearchParams({ Order: 'asc', PageSize: String(pageSize) });
    if (from !== undefined) {
      query.set('From', String(from));
      query.set('Bounds', 'exclusive');
    }
    const body = await this.send('GET', `/Lists/${encodeURIComponent(list)}/Items?${query}`);
    const items = Array.isArray(body.items) ? (body.items as Array<{ index: unknown; data: unknown }>) : [];
    return items.map((i) => ({ index: Number(i.index), data: i.data }));
  }

  private async send(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    body?: string,
    ifMatch?: string,
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { Authorization: this.auth };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    if (ifMatch !== undefined) headers['If-Match'] = ifMatch;
    // a document's data set again is the same data; a create (POST /Documents) or an append is not repeated
    const repeatable = mayRepeat(method, { ifMatch: ifMatch !== undefined, update: /^\/Documents\/[^/]+$/.test(path) });
    const answer = await this.upstream.call(
      'sync',
      (timeoutMs) =>
        this.exchange(method, `${this.prefix}${path}`, headers, body, timeoutMs).catch(
          (err: Error & { code?: string }) => {
            // a kept-alive connection the server closed as the request went out: sent again once, when
            // sending it twice is harmless (a read, a delete, a write over a revision). A create or an
            // append is not repeated: its first may have landed. (undici does not reuse a connection
            // it has seen closing or idle past the server's keep-alive, so this is the rare race.)
            if (err.code !== 'ECONNRESET' || !repeatable) throw err;
            return this.exchange(method, `${this.prefix}${path}`, headers, body, timeoutMs);
          },
        ),
      ({ value }) => ({ status: value?.status, retryAfter: value?.retryAfter }),
      SYNC_TIMEOUT_MS,
      repeatable,
    );
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    const code = typeof answer.body.code === 'number' ? answer.body.code : undefined;
    const message = typeof answer.body.message === 'string' ? answer.body.message : `Sync answered ${answer.status}`;
    throw new SyncError(answer.status, code, message);
  }

  /**
   * One request through undici's dispatch API: the answer's bytes are gathered and parsed once, with
   * no response stream built per request (about 0.15 s less CPU per 3,600 requests in a fresh
   * process than `pool.request` with `body.text()`, measured against a local server at 50 ms).
   */
  private exchange(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
  ): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let status = 0;
      let retryAfter: string | undefined;
      poolFor(this.base.origin).dispatch(
        { method, path, headers, body, headersTimeout: timeoutMs, bodyTimeout: timeoutMs },
        {
          // its presence is how undici tells this handler API from the legacy one (handler/unwrap-handler.js)
          onRequestStart: () => undefined,
          onResponseStart: (_controller, statusCode, responseHeaders) => {
            status = statusCode;
            const ra = responseHeaders['retry-after'];
            retryAfter = typeof ra === 'string' ? ra : undefined;
          },
          onResponseData: (_controller, chunk) => {
            chunks.push(chunk);
          },
          onResponseEnd: () => {
            let parsed: Record<string, unknown> = {};
            try {
              const text = Buffer.concat(chunks).toString('utf8');
              parsed = text ? JSON.parse(text) : {};
            } catch {
              // not JSON (a proxy's error page): the status says enough
            }
            // answered on the next turn of the event loop, not now: undici takes a keep-alive
            // connection back only after a full turn (setImmediate in client-h1.js's
            // onMessageComplete), so a request sent at once from here finds every connection
            // busy and opens another. Answered after that turn, the invocation's next request
            // reuses this connection: a 900-user batch opened 61-79 connections per invocation
            // for a budget of 40, each a TLS handshake against Twilio; now about 41.
            setImmediate(resolve, { status, retryAfter, body: parsed });
          },
          onResponseError: (_controller, err) => reject(networkError(err as Error & { code?: string }, timeoutMs)),
        },
      );
    });
  }
}
