/**
 * What binds at scale upstream, modelled as the vendors impose it:
 *
 * - Twilio's account REST concurrency: every Twilio API the sandbox serves
 *   (api.twilio.com, Sync, …) shares one count of requests in flight; past
 *   the limit (SANDBOX_TWILIO_CONCURRENCY, 100 by default, about what an
 *   account gets) a request is refused at once with 429 and error 20429.
 * - Latency per API (SANDBOX_LATENCY_MS=twilio:50,sync:50,sendgrid:80,…),
 *   spent while the request holds its place, as a remote API's would be.
 *
 * It also counts what benches and tests need to see: peak in flight per API,
 * requests, refusals, and connections opened per API (each one a TLS
 * handshake against the real vendor, which this plain-HTTP sandbox skips).
 */
import type { Api } from './state';

export const TWILIO_FAMILY: ReadonlySet<Api> = new Set<Api>(['twilio', 'sync']);
export const DEFAULT_TWILIO_CONCURRENCY = 100;
const APIS: Api[] = ['twilio', 'sync', 'sendgrid', 'segment', 'profiles'];

/** Twilio's answer past the account's concurrency (error 20429). */
export const TOO_MANY_REQUESTS = {
  code: 20429,
  message: 'Too Many Requests',
  more_info: 'https://www.twilio.com/docs/errors/20429',
  status: 429,
};

/** `twilio:50,sync:50` (or `50` for every API) as milliseconds per API; throws naming what is wrong. */
export function parseLatency(spec: string | undefined): Partial<Record<Api, number>> {
  const out: Partial<Record<Api, number>> = {};
  if (!spec?.trim()) return out;
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(?:([a-z]+):)?(\d+)$/.exec(part);
    if (!m) throw new Error(`SANDBOX_LATENCY_MS: "${part}" is not api:milliseconds (e.g. twilio:50,sync:50)`);
    const ms = Number(m[2]);
    if (!m[1]) for (const a of APIS) out[a] = ms;
    else if (APIS.includes(m[1] as Api)) out[m[1] as Api] = ms;
    else throw new Error(`SANDBOX_LATENCY_MS: unknown API "${m[1]}" (one of ${APIS.join(', ')})`);
  }
  return out;
}

export interface UpstreamStats {
  concurrency: number;
  latencyMs: Partial<Record<Api, number>>;
  /** Twilio-family requests in flight now, and the most at once since the last reset */
  inFlight: number;
  peakInFlight: number;
  /** most requests in flight at once per API */
  peak: Partial<Record<Api, number>>;
  /** requests refused with 20429 */
  refused: number;
  /** connections opened per API (counted at a connection's first request) */
  connections: Partial<Record<Api, number>>;
}

export class UpstreamLimits {
  concurrency: number;
  latencyMs: Partial<Record<Api, number>>;
  private inFlight = 0;
  private readonly perApi = new Map<Api, number>();
  private peakInFlight = 0;
  private peak: Partial<Record<Api, number>> = {};
  private refused = 0;
  private connections: Partial<Record<Api, number>> = {};

  constructor(env: NodeJS.ProcessEnv = process.env) {
    const limit = Number(env.SANDBOX_TWILIO_CONCURRENCY || DEFAULT_TWILIO_CONCURRENCY);
    if (!Number.isInteger(limit) || limit < 1) throw new Error('SANDBOX_TWILIO_CONCURRENCY must be a positive integer');
    this.concurrency = limit;
    this.latencyMs = parseLatency(env.SANDBOX_LATENCY_MS);
  }

  /**
   * Takes a place for a request to `api`; false when the account's concurrency is used up (answer
   * 20429). A request that got a place must `leave` when answered.
   */
  enter(api: Api): boolean {
    const twilio = TWILIO_FAMILY.has(api);
    if (twilio && this.inFlight >= this.concurrency) {
      this.refused++;
      return false;
    }
    if (twilio) this.peakInFlight = Math.max(this.peakInFlight, ++this.inFlight);
    const n = (this.perApi.get(api) ?? 0) + 1;
    this.perApi.set(api, n);
    this.peak[api] = Math.max(this.peak[api] ?? 0, n);
    return true;
  }

  leave(api: Api): void {
    if (TWILIO_FAMILY.has(api)) this.inFlight--;
    this.perApi.set(api, (this.perApi.get(api) ?? 1) - 1);
  }

  /** A connection's first request was to `api`. */
  connected(api: Api): void {
    this.connections[api] = (this.connections[api] ?? 0) + 1;
  }

  /** The configured latency of `api`, waited while the request holds its place. */
  delay(api: Api): Promise<void> | undefined {
    const ms = this.latencyMs[api];
    return ms ? new Promise((r) => setTimeout(r, ms)) : undefined;
  }

  stats(): UpstreamStats {
    return {
      concurrency: this.concurrency,
      latencyMs: this.latencyMs,
      inFlight: this.inFlight,
      peakInFlight: this.peakInFlight,
      peak: this.peak,
      refused: this.refused,
      connections: this.connections,
    };
  }

  /** Forgets the counts (not the settings, nor requests still in flight). */
  resetStats(): void {
    this.peakInFlight = this.inFlight;
    this.peak = Object.fromEntries(this.perApi);
    this.refused = 0;
    this.connections = {};
  }
}
