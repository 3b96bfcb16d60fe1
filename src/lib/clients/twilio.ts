import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type { Config } from '../config';
import { Deadline } from '../deadline';

export const TWILIO_TIMEOUT_MS = 4000;
const MAX_RETRY_WAIT_MS = 2000;

/**
 * The official client's HTTP layer with three additions: every Twilio REST
 * host (api, sync, …) can be replaced by TWILIO_API_BASE_URL (path kept) for
 * regions and the local sandbox; each request's timeout fits the invocation's
 * deadline; and a 429 or 5xx is retried once, after Retry-After, when the
 * deadline allows.
 */
class ServiceRequestClient extends twilio.RequestClient {
  constructor(
    private readonly base: URL | undefined,
    private readonly deadline: Deadline,
  ) {
    super({ timeout: TWILIO_TIMEOUT_MS });
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>) {
    let uri = opts.uri;
    if (this.base) {
      const u = new URL(opts.uri);
      uri = `${this.base.origin}${this.base.pathname.replace(/\/$/, '')}${u.pathname}${u.search}`;
    }
    const attempt = () => super.request<TData>({ ...opts, uri, timeout: this.deadline.timeout(TWILIO_TIMEOUT_MS) });
    const first = await attempt();
    if (first.statusCode !== 429 && first.statusCode < 500) return first;
    const retryAfter = Number((first.headers as Record<string, string> | undefined)?.['retry-after']);
    const wait = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : 500;
    if (wait > MAX_RETRY_WAIT_MS || !this.deadline.allows(wait, 1000)) return first;
    await new Promise((r) => setTimeout(r, wait));
    return attempt();
  }
}

export function twilioClient(config: Config, deadline = new Deadline()): twilio.Twilio {
  const base = config.twilioApiBaseUrl ? new URL(config.twilioApiBaseUrl) : undefined;
  return twilio(config.accountSid, config.authToken, { httpClient: new ServiceRequestClient(base, deadline) });
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
