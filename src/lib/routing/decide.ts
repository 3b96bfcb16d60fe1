/**
 * The routing decision: explicit override; else the learner's choice (policy
 * `learned`); else the preferred channel when reachable, else a uniformly
 * random reachable channel (policy `trait`, the tutorial's).
 */
import { type Channel, CHANNELS } from '../channel-list';

export type RouteReason = 'override' | 'learned' | 'preference' | 'fallback' | 'random' | 'quiet_hours';

export interface Reachability {
  /** channels we can use for this user, in CHANNELS order */
  reachable: Channel[];
  /** why each unreachable channel is unreachable */
  unreachable: Partial<Record<Channel, string>>;
}

export interface ContactFacts {
  phone?: string;
  email?: string;
  smsOptedOut?: boolean;
  emailOptedOut?: boolean;
  /** channels excluded for this notification (e.g. calls in quiet hours, a channel that just failed) */
  excluded?: Partial<Record<Channel, string>>;
}

export function reachability(facts: ContactFacts): Reachability {
  const unreachable: Partial<Record<Channel, string>> = {};
  if (!facts.phone) {
    unreachable.SMS = 'no phone number';
    unreachable.CALL = 'no phone number';
  } else if (facts.smsOptedOut) {
    unreachable.SMS = 'opted out of SMS';
  }
  if (!facts.email) unreachable.EMAIL = 'no email address';
  else if (facts.emailOptedOut) unreachable.EMAIL = 'opted out of email';
  for (const [channel, why] of Object.entries(facts.excluded ?? {}) as Array<[Channel, string]>) {
    unreachable[channel] ??= why;
  }
  return { reachable: CHANNELS.filter((c) => !unreachable[c]), unreachable };
}

export type Decision = { ok: true; channel: Channel; reason: RouteReason } | { ok: false; why: string };

export function decide(
  reach: Reachability,
  opts: {
    override?: Channel;
    preferred?: Channel;
    random?: () => number;
    /** the learner's choice among the reachable channels (policy learned) */
    learned?: Channel;
  },
): Decision {
  const random = opts.random ?? Math.random;
  if (opts.override) {
    const why = reach.unreachable[opts.override];
    return why
      ? { ok: false, why: `channel ${opts.override} is unreachable: ${why}` }
      : { ok: true, channel: opts.override, reason: 'override' };
  }
  if (reach.reachable.length === 0) {
    const reasons = CHANNELS.map((c) => `${c}: ${reach.unreachable[c]}`).join('; ');
    return { ok: false, why: `no reachable channel (${reasons})` };
  }
  if (opts.learned && reach.reachable.includes(opts.learned))
    return { ok: true, channel: opts.learned, reason: 'learned' };
  if (opts.preferred && reach.reachable.includes(opts.preferred))
    return { ok: true, channel: opts.preferred, reason: 'preference' };
  const channel = reach.reachable[Math.floor(random() * reach.reachable.length)];
  return { ok: true, channel, reason: opts.preferred ? 'fallback' : 'random' };
}
