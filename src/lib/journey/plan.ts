/**
 * Plans a notification's steps in time: the first now (or at sendAt, or at
 * the end of quiet hours), each later escalation step `escalateAfter` minutes
 * on, moved out of quiet hours; every time is checked against what the
 * channel's provider can schedule, with an error saying what is possible.
 */
import type { Channel } from '../channel-list';
import { CHANNEL_OPS } from '../channels/registry';
import type { Config } from '../config';
import { DomainError } from '../errors';
import { inQuietHours, quietHoursEnd } from '../quiet-hours';
import type { Route } from '../routing/route';

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
  steps: [PlannedStep, ...PlannedStep[]];
  skipped: Partial<Record<Channel, string>>;
  quietHours?: QuietReport;
}

export interface JourneyRequest {
  sendAt?: Date;
  escalation?: Channel[] | 'auto';
  escalateAfter: number;
}

const unschedulable = (message: string, field: string) => new DomainError('cannot_schedule', message, field);

/** The channels in order: the routed one, or the escalation's reachable ones. */
function channelsOf(req: JourneyRequest, route: Route, skipped: Plan['skipped']): [Channel, ...Channel[]] {
  if (!req.escalation) return [route.channel];
  const { reachable, unreachable } = route.reach;
  if (req.escalation === 'auto') return [route.channel, ...reachable.filter((c) => c !== route.channel)];
  const [first, ...rest] = req.escalation.filter((c) => reachable.includes(c));
  for (const c of req.escalation) if (!reachable.includes(c)) skipped[c] = unreachable[c] ?? 'unreachable';
  if (!first) {
    const why = `no channel of the escalation is reachable (${JSON.stringify(skipped)})`;
    throw new DomainError('unreachable', why, 'escalation');
  }
  return [first, ...rest];
}

export function planJourney(req: JourneyRequest, route: Route, config: Config, now: Date): Plan {
  const skipped: Plan['skipped'] = {};
  const channels = channelsOf(req, route, skipped);
  const { quiet: qh, timezone: tz } = route;
  const quiet: QuietReport | undefined = qh ? { window: qh.text, timezone: tz } : undefined;
  const quietEnd = (d: Date) => (qh && inQuietHours(d, qh, tz) ? quietHoursEnd(d, qh, tz) : undefined);
  const cannot = (c: Channel, at: Date) => CHANNEL_OPS[c].cannotSchedule(at, now, config);

  let first: Date | undefined = req.sendAt;
  const endNow = quietEnd(now);
  const endAtSend = first && quietEnd(first);
  if (quiet && endAtSend) {
    first = endAtSend;
    quiet.deferredUntil = first.toISOString();
  } else if (quiet && !first && endNow) {
    const why = cannot(channels[0], endNow);
    if (why) quiet.note = `sent during quiet hours: ${why}`;
    else {
      first = endNow;
      quiet.deferredUntil = endNow.toISOString();
    }
  }
  if (first) {
    const why = cannot(channels[0], first);
    const field = req.sendAt ? 'sendAt' : 'quietHours';
    if (why) throw unschedulable(`cannot schedule ${channels[0]} at ${first.toISOString()}: ${why}`, field);
  }

  const steps: Plan['steps'] = [{ channel: channels[0], at: first }];
  let previous = first ?? now;
  for (let i = 1; i < channels.length; i++) {
    let at = new Date(previous.getTime() + req.escalateAfter * 60_000);
    at = quietEnd(at) ?? at;
    const channel = channels[i];
    // Twilio schedules SMS only more than 15 minutes ahead (we keep 30 s for transit): a step due
    // escalateAfter=15 minutes after one sent now goes out that much later rather than not at all.
    const earliest = CHANNEL_OPS[channel].earliestSchedule(now);
    if (at < earliest && earliest.getTime() - at.getTime() <= 60_000) at = earliest;
    previous = at;
    // Calls cannot be scheduled: a later call step waits for an outright failure of the step before it.
    const why = channel === 'CALL' ? undefined : cannot(channel, at);
    if (why) throw unschedulable(`escalation step ${i + 1} (${channel}) at ${at.toISOString()}: ${why}`, 'escalation');
    steps.push({ channel, at });
  }
  const reportQuiet = quiet && (quiet.deferredUntil || quiet.note || endNow);
  return { steps, skipped, quietHours: reportQuiet ? quiet : undefined };
}
