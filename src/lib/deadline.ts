/**
 * The invocation's time budget. Twilio ends a function at 10 s; we answer
 * within 8 s, so every upstream call gets a timeout that fits what is left.
 */
export const INVOCATION_BUDGET_MS = 8000;
const MARGIN_MS = 400;

export class Deadline {
  private readonly end: number;

  constructor(budgetMs = INVOCATION_BUDGET_MS, start = Date.now()) {
    this.end = start + budgetMs;
  }

  remaining(): number {
    return this.end - Date.now();
  }

  /** A timeout for one upstream call: at most `capMs`, and within the budget. */
  timeout(capMs: number): number {
    return Math.max(100, Math.min(capMs, this.remaining() - MARGIN_MS));
  }

  /** Whether waiting `waitMs` and then a call of up to `callMs` still fits. */
  allows(waitMs: number, callMs: number): boolean {
    return this.remaining() - MARGIN_MS > waitMs + callMs;
  }
}

/**
 * Runs `fn`, and again after each of `waitsMs` while the deadline still allows
 * the wait and another call of up to `callMs`: for work that must not be
 * given up after one failure of a short upstream outage. An error `retryable`
 * says no to (a refusal that would be refused again) is thrown at once.
 */
export async function retryWithin<T>(
  deadline: Deadline,
  fn: () => Promise<T>,
  waitsMs: number[] = [200, 500, 1000],
  callMs = 1500,
  retryable: (err: unknown) => boolean = () => true,
): Promise<T> {
  for (const wait of waitsMs) {
    try {
      return await fn();
    } catch (err) {
      if (!retryable(err) || !deadline.allows(wait, callMs)) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  return fn();
}

/**
 * Works through `items`, `parallel` at a time, starting one only while the deadline leaves room for
 * it (as long as the slowest item so far, `firstGuessMs` before any finished) and `reserveMs` after:
 * for work that can stop part-way and keep the rest. Answers the results by index; items missing
 * from it were never started.
 */
export async function workWithin<T, R>(
  deadline: Deadline,
  items: T[],
  opts: { parallel: number; reserveMs: number; firstGuessMs: number },
  run: (item: T, index: number) => Promise<R>,
): Promise<Map<number, R>> {
  const results = new Map<number, R>();
  let slowestMs = 0;
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (deadline.remaining() - opts.reserveMs < (slowestMs || opts.firstGuessMs)) return;
      const i = next++;
      const started = Date.now();
      results.set(i, await run(items[i], i));
      slowestMs = Math.max(slowestMs, Date.now() - started);
    }
  };
  await Promise.all(Array.from({ length: opts.parallel }, worker));
  return results;
}
