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
