/**
 * One invocation's upstream budget: every request it makes to Twilio (REST
 * and Sync), SendGrid, Segment and the Profile API goes through `call`, which
 * owns how many are in flight at once and the invocation's deadline.
 *
 * Why a budget: the account's REST concurrency (about 100 requests in flight,
 * then 429 with error 20429) is shared by every invocation at once, and Sync
 * throttles each object (54009). One webhook must not take the account's
 * whole allowance, so each invocation keeps to UPSTREAM_CONCURRENCY (40 by
 * default) and waits for a place beyond it. A throttled request (429: 20429,
 * 54009 or a vendor's rate limit: refused before it was carried out) is
 * retried with jittered exponential backoff (or after Retry-After) while the
 * deadline allows; a 5xx once, and only a request that may be repeated
 * (`mayRepeat`): a 5xx does not say whether a create went through.
 */
import pLimit from 'p-limit';
import { Deadline } from './deadline';

export type UpstreamApi = 'twilio' | 'sync' | 'sendgrid' | 'segment' | 'profiles';

export const DEFAULT_UPSTREAM_CONCURRENCY = 40;
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1600;
const SERVER_ERROR_WAIT_MS = 500;
/** a wait the vendor asks for beyond this is not waited inside one invocation */
const MAX_RETRY_AFTER_MS = 2000;

/** What a request's answer (or its failure) says about retrying it. */
export interface Answered {
  status?: number;
  retryAfter?: string | null;
}

export interface UpstreamStats {
  requests: number;
  /** most requests in flight at once */
  peak: number;
  /** answers 429 (throttled), each retried when the deadline allowed */
  throttled: number;
  /** retries made (throttling and server errors) */
  retries: number;
  byApi: Partial<Record<UpstreamApi, number>>;
}

/**
 * The one rule of which requests may be sent twice (after a 5xx, or on a connection that closed as
 * it went out): a read, a delete, an update that sets an existing resource to given values (a
 * message's `Status=canceled`, a document's data: twice is once), a write over a revision
 * (If-Match: a repeat finds the revision moved), or a post the vendor deduplicates (Segment, on
 * messageId). Never a create, an append or a send: its first may have landed, and a second would
 * double-count, collide with itself, or send an SMS twice.
 */
export function mayRepeat(
  method: string,
  how: { ifMatch?: boolean; deduplicated?: boolean; update?: boolean } = {},
): boolean {
  return method.toUpperCase() !== 'POST' || how.ifMatch === true || how.deduplicated === true || how.update === true;
}

/** A Twilio REST path that names one resource (ends with its SID): a POST to it is an update. */
export const isInstancePath = (path: string) => /\/[A-Z]{2}[0-9a-f]{32}(\.json)?$/.test(path);

export class Upstream {
  readonly stats: UpstreamStats = { requests: 0, peak: 0, throttled: 0, retries: 0, byApi: {} };
  private readonly limit: pLimit.Limit;

  constructor(
    readonly deadline: Deadline = new Deadline(),
    readonly concurrency = DEFAULT_UPSTREAM_CONCURRENCY,
  ) {
    this.limit = pLimit(concurrency);
  }

  /**
   * Sends one request when a place is free, with a timeout (at most `capMs`) that fits the deadline,
   * and retries it as the module comment says. `answered` reads the status from a result or from
   * what `send` threw (clients that throw on 4xx/5xx); a result is returned as it is, an error rethrown.
   */
  async call<T>(
    api: UpstreamApi,
    send: (timeoutMs: number) => Promise<T>,
    answered: (outcome: { value?: T; error?: unknown }) => Answered,
    capMs: number,
    /** whether a 5xx may be retried: mayRepeat */
    repeatable: boolean,
  ): Promise<T> {
    // a request that must not repeat counts as retried already: a 5xx is answered as it is
    let serverRetried = !repeatable;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.limit(async () => {
        this.stats.requests++;
        this.stats.byApi[api] = (this.stats.byApi[api] ?? 0) + 1;
        this.stats.peak = Math.max(this.stats.peak, this.limit.activeCount);
        try {
          return { value: await send(this.deadline.timeout(capMs)) };
        } catch (error) {
          return { error };
        }
      });
      const { status, retryAfter } = answered(outcome);
      const wait = this.retryWait(status, retryAfter, attempt, serverRetried);
      if (wait === undefined || !this.deadline.allows(wait, Math.min(capMs, 1000))) {
        if ('error' in outcome) throw outcome.error;
        return outcome.value as T;
      }
      if (status === 429) this.stats.throttled++;
      else serverRetried = true;
      this.stats.retries++;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** How long to wait before retrying an answer with `status`, or undefined: do not retry. */
  private retryWait(
    status: number | undefined,
    retryAfter: string | null | undefined,
    attempt: number,
    serverRetried: boolean,
  ): number | undefined {
    const asked = retryAfter != null && retryAfter !== '' ? Number(retryAfter) * 1000 : Number.NaN;
    if (Number.isFinite(asked) && asked > MAX_RETRY_AFTER_MS) return undefined;
    if (status === 429) {
      if (Number.isFinite(asked) && asked >= 0) return asked;
      // full jitter: throttled callers that collided do not collide again
      const ceiling = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt);
      return ceiling / 2 + Math.random() * (ceiling / 2);
    }
    if (status !== undefined && status >= 500 && !serverRetried) {
      return Number.isFinite(asked) && asked >= 0 ? asked : SERVER_ERROR_WAIT_MS;
    }
    return undefined;
  }
}
