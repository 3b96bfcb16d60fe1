/**
 * The running service, as a campaign calls it: /notify and /cancel with the
 * Bearer key. 429 and 503 answers (and a lost connection) are retried with
 * exponential backoff and jitter, honouring Retry-After; other 4xx answers
 * are final for the row and never retried.
 */
/** What /notify and /cancel answer, as far as a campaign reads it. */
export interface AnswerBody {
  status?: string;
  channel?: string;
  reason?: string;
  canceled?: string[];
  /** the estimated cost of the first step (null: its price is unknown), in `currency` */
  cost?: number | null;
  currency?: string;
  error?: { code?: string; message?: string; field?: string };
  /** a body that was not JSON */
  text?: string;
}

export interface Answer {
  status: number;
  body: AnswerBody;
}

export interface ServiceOptions {
  url: string;
  key: string;
  /** attempts per request at most (the first included) */
  attempts?: number;
  /** longest wait between attempts */
  maxWaitMs?: number;
  /** asked before each retry: false stops retrying (Ctrl-C) */
  keepTrying?: () => boolean;
  /** told of each retry, for the progress line */
  onRetry?: (why: string) => void;
}

/** Why an answer is worth another attempt, or undefined. */
const retryable = (status: number) => (status === 429 ? 'throttled' : status === 503 ? 'unavailable' : undefined);

export class Service {
  private readonly base: string;

  constructor(private readonly opts: ServiceOptions) {
    this.base = opts.url.replace(/\/$/, '');
  }

  notify(params: Record<string, string>): Promise<Answer | { lost: string }> {
    return this.post('/notify', params);
  }

  /** What /notify would choose for the row, and what it would cost: nothing is sent (the dry run). */
  channel(params: Record<string, string>): Promise<Answer | { lost: string }> {
    return this.post('/channel', params);
  }

  cancel(notificationId: string): Promise<Answer | { lost: string }> {
    return this.post('/cancel', { notificationId });
  }

  /** The final answer, or `lost` when every attempt failed to get one (or retrying was stopped). */
  private async post(path: string, json: Record<string, string>): Promise<Answer | { lost: string }> {
    const attempts = this.opts.attempts ?? 8;
    const maxWait = this.opts.maxWaitMs ?? 30_000;
    let lost = 'no attempt made';
    for (let attempt = 0; attempt < attempts; attempt++) {
      let wait: number | undefined;
      try {
        const res = await fetch(`${this.base}${path}`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${this.opts.key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify(json),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        const why = retryable(res.status);
        if (!why) return { status: res.status, body: parseBody(text) };
        lost = `HTTP ${res.status} (${why}) after ${attempt + 1} attempts`;
        const retryAfter = Number(res.headers.get('retry-after'));
        if (Number.isFinite(retryAfter) && retryAfter >= 0) wait = retryAfter * 1000;
        this.opts.onRetry?.(why);
      } catch (err) {
        lost = `${(err as Error).message} after ${attempt + 1} attempts`;
        this.opts.onRetry?.('connection');
      }
      if (attempt + 1 >= attempts || this.opts.keepTrying?.() === false) break;
      // Retry-After when the service gave one (plus a little jitter, so rows do not return at once)
      const backoff = Math.min(maxWait, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
      const delay = wait !== undefined ? Math.min(maxWait, wait) + Math.random() * 200 : backoff;
      await new Promise((r) => setTimeout(r, delay));
    }
    return { lost };
  }
}

function parseBody(text: string): AnswerBody {
  try {
    const body = JSON.parse(text);
    return body && typeof body === 'object' ? body : { text };
  } catch {
    return { text };
  }
}
