/**
 * Plans a notification's steps in time: the first now (or at sendAt, or at
 * the end of quiet hours), each later escalation step `escalateAfter` minutes
 * on, moved out of quiet hours; every time is checked against what the
 * channel's provider can schedule, with a 422 saying what is possible.
 */
import type { Channel } from '../channels';
import type { Traits } from '../clients/profiles';
import type { Config } from '../config';
import { ApiError } from '../http/errors';
import type { NotifyInput } from '../notify/input';
import type { Route } from '../notify/route';
import {
  cannotSchedule,
  inQuietHours,
  parseQuietHours,
  type QuietHours,
  quietHoursEnd,
  validTimezone,
} from '../schedule';

export interface PlannedStep {
  channel: Channel;
  /** undefined: now */
  at?: Date;
}

export interface QuietReport {
  window: string;
  timezone: string;
  deferredUntil?: string;
  note?: string;
}

export interface Plan {
  steps: PlannedStep[];
  skipped: Partial<Record<Channel, string>>;
  quietHours?: QuietReport;
}

export function timezoneOf(traits: Traits, config: Config): string {
  const tz = traits.timezone;
  return typeof tz === 'string' && validTimezone(tz) ? tz : config.defaultTimezone;
}

/** The quiet window for this request: its own `quietHours`, else QUIET_HOURS; none when urgent. */
export function quietWindow(input: Pick<NotifyInput, 'urgent' | 'quietHours'>, config: Config): QuietHours | undefined {
  if (input.urgent) return undefined;
  const text = input.quietHours ?? config.quietHours;
  return text && text !== 'none' ? parseQuietHours(text) : undefined;
}

/** Channels routing must skip at `now`: no call is placed in quiet hours. */
export function quietExclusions(now: Date, qh: QuietHours | undefined, tz: string): Partial<Record<Channel, string>> {
  if (!qh || !inQuietHours(now, qh, tz)) return {};
  return {
    CALL: `quiet hours ${qh.text} (${tz}) until ${quietHoursEnd(now, qh, tz).toISOString()}; urgent=true overrides`,
  };
}

const unschedulable = (message: string, field: string) => new ApiError(422, 'cannot_schedule', message, field);

export function planJourney(
  input: NotifyInput,
  route: Route,
  config: Config,
  now: Date,
  tz: string,
  qh: QuietHours | undefined,
): Plan {
  const skipped: Plan['skipped'] = {};
  let channels: Channel[];
  if (!input.escalation) channels = [route.channel];
  else if (input.escalation === 'auto')
    channels = [route.channel, ...route.reach.reachable.filter((c) => c !== route.channel)];
  else {
    channels = input.escalation.filter((c) => route.reach.reachable.includes(c));
    for (const c of input.escalation)
      if (!channels.includes(c)) skipped[c] = route.reach.unreachable[c] ?? 'unreachable';
    if (channels.length === 0)
      throw new ApiError(
        422,
        'unreachable',
        `no channel of the escalation is reachable (${JSON.stringify(skipped)})`,
        'escalation',
      );
  }
  const quiet: QuietReport | undefined = qh ? { window: qh.text, timezone: tz } : undefined;
  const isQuiet = (d: Date) => Boolean(qh && inQuietHours(d, qh, tz));

  let first: Date | undefined = input.sendAt;
  if (first && isQuiet(first)) {
    first = quietHoursEnd(first, qh!, tz);
    quiet!.deferredUntil = first.toISOString();
  } else if (!first && isQuiet(now)) {
    const end = quietHoursEnd(now, qh!, tz);
    const why = cannotSchedule(channels[0], end, now, config);
    if (why) quiet!.note = `sent during quiet hours: ${why}`;
    else {
      first = end;
      quiet!.deferredUntil = end.toISOString();
    }
  }
  if (first) {
    const why = cannotSchedule(channels[0], first, now, config);
    if (why)
      throw unschedulable(
        `cannot schedule ${channels[0]} at ${first.toISOString()}: ${why}`,
        input.sendAt ? 'sendAt' : 'quietHours',
      );
  }

  const steps: PlannedStep[] = [{ channel: channels[0], at: first }];
  let previous = first ?? now;
  for (let i = 1; i < channels.length; i++) {
    let at = new Date(previous.getTime() + input.escalateAfter * 60_000);
    if (isQuiet(at)) at = quietHoursEnd(at, qh!, tz);
    previous = at;
    const channel = channels[i];
    // Calls cannot be scheduled: a later call step waits for an outright failure of the step before it.
    const why = channel === 'CALL' ? undefined : cannotSchedule(channel, at, now, config);
    if (why) throw unschedulable(`escalation step ${i + 1} (${channel}) at ${at.toISOString()}: ${why}`, 'escalation');
    steps.push({ channel, at });
  }
  return {
    steps,
    skipped,
    quietHours: quiet && (quiet.deferredUntil || quiet.note || isQuiet(now)) ? quiet : undefined,
  };
}
