import type { IncomingMessage, ServerResponse } from 'node:http';

/** A parsed request as every sandbox API sees it. */
export interface SandboxRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  rawBody: string;
  /** form fields (repeated keys become arrays), parsed for x-www-form-urlencoded */
  form: Record<string, string | string[]>;
  /** parsed JSON body, or undefined when the body is not JSON */
  json: unknown;
  jsonError?: string;
  params: Record<string, string>;
  /** path parameters before percent-decoding */
  rawParams: Record<string, string>;
}

export interface SandboxResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: SandboxRequest) => SandboxResponse | Promise<SandboxResponse>;

interface Route {
  method: string;
  /** as registered: `/a/:b/c` */
  path: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** Minimal path router: `/a/:b/c` patterns; a `:name` never spans a slash. */
export class Router {
  private routes: Route[] = [];

  on(method: string, path: string, handler: Handler): this {
    const keys: string[] = [];
    const source = path.replace(/[.]/g, '\\.').replace(/:(\w+)/g, (_, key: string) => {
      keys.push(key);
      return '([^/]+)';
    });
    this.routes.push({ method, path, pattern: new RegExp(`^${source}$`), keys, handler });
    return this;
  }

  /** Every route as registered (the specs' trim script keeps the vendors' operations these serve). */
  list(): Array<{ method: string; path: string }> {
    return this.routes.map(({ method, path }) => ({ method, path }));
  }

  match(
    method: string,
    path: string,
  ): { handler: Handler; params: Record<string, string>; rawParams: Record<string, string> } | 'method' | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      const params: Record<string, string> = {};
      const rawParams: Record<string, string> = {};
      route.keys.forEach((k, i) => {
        rawParams[k] = m[i + 1];
        params[k] = decodeURIComponent(m[i + 1]);
      });
      return { handler: route.handler, params, rawParams };
    }
    return pathMatched ? 'method' : undefined;
  }
}

export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () =>
      size > limit ? reject(new Error('body too large')) : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

export function parseForm(raw: string): Record<string, string | string[]> {
  const form: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    const prev = form[k];
    form[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return form;
}

export async function parseRequest(req: IncomingMessage, limit: number): Promise<SandboxRequest> {
  const url = new URL(req.url ?? '/', 'http://sandbox.local');
  const rawBody = await readBody(req, limit);
  const type = String(req.headers['content-type'] ?? '');
  let json: unknown;
  let jsonError: string | undefined;
  if (type.includes('json') && rawBody.length > 0) {
    try {
      json = JSON.parse(rawBody);
    } catch (err) {
      jsonError = (err as Error).message;
    }
  }
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: url.searchParams,
    headers: req.headers,
    rawBody,
    form: type.includes('x-www-form-urlencoded') ? parseForm(rawBody) : {},
    json,
    jsonError,
    params: {},
    rawParams: {},
  };
}

export function writeResponse(res: ServerResponse, out: SandboxResponse): void {
  const headers: Record<string, string> = { ...(out.headers ?? {}) };
  let payload: string | Buffer = '';
  if (out.body !== undefined) {
    payload = typeof out.body === 'string' || Buffer.isBuffer(out.body) ? out.body : JSON.stringify(out.body);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
      headers['Content-Type'] = 'application/json';
    }
  }
  res.writeHead(out.status, headers);
  res.end(payload);
}

/** Credentials of a Basic Authorization header, or undefined. */
export function basicAuth(req: SandboxRequest): { user: string; pass: string } | undefined {
  const header = String(req.headers.authorization ?? '');
  const m = /^Basic\s+(.+)$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? { user: decoded, pass: '' } : { user: decoded.slice(0, i), pass: decoded.slice(i + 1) };
}

export function bearer(req: SandboxRequest): string | undefined {
  const m = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''));
  return m?.[1];
}

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A form field as one string (the first value when repeated). */
export function field(form: Record<string, string | string[]>, name: string): string | undefined {
  const v = form[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A form field as a list (Twilio repeats keys for list parameters). */
export function fieldList(form: Record<string, string | string[]>, name: string): string[] {
  const v = form[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(/[\s,]+/)).filter(Boolean);
}
