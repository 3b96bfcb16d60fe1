import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type { Config } from '../config';
import { isInstancePath, mayRepeat, Upstream } from '../upstream';

export const TWILIO_TIMEOUT_MS = 4000;

/**
 * The official client's HTTP layer with two additions: every Twilio REST
 * host (api, sync, …) can be replaced by TWILIO_API_BASE_URL (path kept, the
 * host it replaced sent as X-Twilio-Host) for regions and the local sandbox; and every request goes through the
 * invocation's upstream budget (upstream.ts: concurrency, deadline, retries
 * of 20429/54009 throttling and of a 5xx).
 */
class ServiceRequestClient extends twilio.RequestClient {
  constructor(
    private readonly base: URL | undefined,
    private readonly upstream: Upstream,
  ) {
    super({ timeout: TWILIO_TIMEOUT_MS, keepAlive: true });
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    let uri = opts.uri;
    let headers = opts.headers;
    if (this.base) {
      const u = new URL(opts.uri);
      uri = `${this.base.origin}${this.base.pathname.replace(/\/$/, '')}${u.pathname}${u.search}`;
      // the host it replaced: Twilio's products share paths (/v1/Services) and differ by host
      headers = { ...headers, 'X-Twilio-Host': u.host };
    }
    const api = /\/\/sync\./.test(opts.uri) ? 'sync' : 'twilio';
    return this.upstream.call(
      api,
      (timeout) => super.request<TData>({ ...opts, uri, headers, timeout }),
      ({ value }) => ({ status: value?.statusCode, retryAfter: headerOf(value?.headers, 'retry-after') }),
      TWILIO_TIMEOUT_MS,
      mayRepeat(opts.method ?? 'GET', {
        ifMatch: headerOf(opts.headers, 'If-Match') !== undefined,
        update: isInstancePath(new URL(opts.uri).pathname),
      }),
    );
  }
}

const headerOf = (headers: unknown, name: string): string | undefined => {
  const v = (headers as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
};

export function twilioClient(config: Config, upstream = new Upstream()): twilio.Twilio {
  return twilioRestClient(config.accountSid, config.authToken, config.twilioApiBaseUrl, upstream);
}

/** The same client from bare credentials (the setup and doctor commands, which have no service config). */
export function twilioRestClient(
  accountSid: string,
  authToken: string,
  baseUrl?: string,
  upstream = new Upstream(),
): twilio.Twilio {
  const base = baseUrl ? new URL(baseUrl) : undefined;
  return twilio(accountSid, authToken, { httpClient: new ServiceRequestClient(base, upstream) });
}

/** Twilio REST errors carry the API's error code (21211, 54103, …). */
export function twilioErrorCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** A REST resource that does not exist (HTTP 404). */
export function isNotFound(err: unknown): boolean {
  return (err as { status?: number })?.status === 404;
}
