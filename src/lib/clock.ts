/**
 * "Now" for everything the service decides by the calendar: scheduling
 * windows, quiet hours, record times, the deadline of a kept cancel, how far
 * evidence has faded. Deployed, it is the real clock. Against the local
 * sandbox (SANDBOX_CLOCK_FILE, which only the local launcher sets) it is the
 * sandbox's clock, read once per invocation from the file the sandbox
 * rewrites when its clock is advanced, so that the functions and the
 * simulated providers never disagree on the time. Elapsed-time measures (an
 * invocation's deadline, caches, sweep intervals) keep the real clock, but for
 * the population prior's cache (store/prior.ts), which ages in this time: it
 * summarises days of engagement, and simulated days must refresh it as real
 * ones do.
 */
import { readFileSync } from 'node:fs';

let clockFile: string | undefined;
let offsetMs: number | undefined;

/** Called at the start of each invocation with its configuration's SANDBOX_CLOCK_FILE (usually none). */
export function useSandboxClock(file: string | undefined): void {
  clockFile = file;
  offsetMs = undefined;
}

function offset(): number {
  if (!clockFile) return 0;
  if (offsetMs === undefined) {
    try {
      const { offsetMs: o } = JSON.parse(readFileSync(clockFile, 'utf8')) as { offsetMs?: unknown };
      offsetMs = typeof o === 'number' && Number.isFinite(o) ? o : 0;
    } catch {
      offsetMs = 0; // no file yet: the sandbox's clock has not moved
    }
  }
  return offsetMs;
}

export const currentTime = (): number => Date.now() + offset();
export const currentDate = (): Date => new Date(currentTime());
