/**
 * Twilio Sync's per-object rate limits, as documented (sync/limits, error
 * 54009): at most 20 reads and 20 writes per second per object, with a 10 s
 * burst window, so an object may take 200 of each in any 10 s. A Map or List
 * is one object for its items. Larger objects are throttled harder; the
 * sandbox charges a write one unit per started KiB of what it stores, so a
 * 1 KiB object takes 20 writes/s and a 10 KiB one 2/s. Real time, not the
 * sandbox clock: advancing the clock must not refill anyone's budget.
 */
const WINDOW_MS = 10_000;
const PER_SECOND = 20;
const BUDGET = (PER_SECOND * WINDOW_MS) / 1000;

export type Access = 'read' | 'write';

export interface Throttled {
  object: string;
  access: Access;
  at: string;
}

export class SyncLimits {
  private readonly used = new Map<string, Array<{ at: number; cost: number }>>();
  /** every refused access, for the tests and the dashboard */
  throttled: Throttled[] = [];
  /** the most units any object used within one window, per access */
  peak: Record<Access, { object: string; units: number }> = {
    read: { object: '', units: 0 },
    write: { object: '', units: 0 },
  };

  /** Charges an access to `object`; false (and nothing charged) when it would exceed the window's budget. */
  admit(object: string, access: Access, bytes = 0, now = Date.now()): boolean {
    const key = `${access} ${object}`;
    const cost = access === 'write' ? Math.max(1, Math.ceil(bytes / 1024)) : 1;
    const recent = (this.used.get(key) ?? []).filter((u) => now - u.at < WINDOW_MS);
    const units = recent.reduce((sum, u) => sum + u.cost, 0);
    if (units + cost > BUDGET) {
      this.used.set(key, recent);
      this.throttled.push({ object, access, at: new Date(now).toISOString() });
      return false;
    }
    recent.push({ at: now, cost });
    this.used.set(key, recent);
    if (units + cost > this.peak[access].units) this.peak[access] = { object, units: units + cost };
    return true;
  }

  reset(): void {
    this.used.clear();
    this.throttled = [];
    this.peak = { read: { object: '', units: 0 }, write: { object: '', units: 0 } };
  }
}
