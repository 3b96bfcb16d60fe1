/**
 * The sandbox clock: real time plus an offset that tests advance, so that
 * scheduled messages and emails come due without waiting. With a file
 * (SANDBOX_CLOCK_FILE) the offset is written there on every change, and the
 * functions running against this sandbox read their "now" from it
 * (src/lib/clock.ts): one clock for both.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export class Clock {
  private offsetMs = 0;

  constructor(private readonly file?: string) {
    this.save();
  }

  private save(): void {
    if (!this.file) return;
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, JSON.stringify({ offsetMs: this.offsetMs }));
  }

  now(): number {
    return Date.now() + this.offsetMs;
  }

  date(): Date {
    return new Date(this.now());
  }

  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
    this.save();
  }

  reset(): void {
    this.offsetMs = 0;
    this.save();
  }
}

/** RFC 2822 date as Twilio's 2010 API prints it. */
export function rfc2822(ms: number): string {
  return new Date(ms).toUTCString().replace('GMT', '+0000');
}
