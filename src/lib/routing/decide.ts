/**
 * The routing decision: explicit override; else the learner's choice (policy
 * `learned`); else the preferred channel when reachable, else a uniformly
 * random reachable channel (policy `trait`, the tutorial's).
 */
import { type AddressKind, CHANNEL_ADDRESS, type Channel, CHANNELS } from '../channel-list';

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
  /** the WhatsApp number (E.164) */
  whatsapp?: string;
  /** channels the user opted out of (the `…_opted_out` traits) */
  optedOut?: Partial<Record<Channel, boolean>>;
  /** channels excluded for this notification (e.g. calls in quiet hours, a channel that just failed) */
  excluded?: Partial<Record<Channel, string>>;
}

const OPTED_OUT: Record<Channel, string> = {
  SMS: 'opted out of SMS',
  CALL: 'opted out of calls',
  EMAIL: 'opted out of email',
  WHATSAPP: 'opted out of WhatsApp',
};

/** Each channel is reachable with its address (channel-list.ts) and no opt-out, unless excluded. */
export function reachability(facts: ContactFacts): Reachability {
  const unreachable: Partial<Record<Channel, string>> = {};
  const address: Record<AddressKind, string | undefined> = {
    phone: facts.phone,
    email: facts.email,
    whatsapp: facts.whatsapp,
  };
  for (const c of CHANNELS) {
    if (!address[CHANNEL_ADDRESS[c].kind]) unreachable[c] = CHANNEL_ADDRESS[c].missing;
    else if (facts.optedOut?.[c]) unreachable[c] = OPTED_OUT[c];
  }
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
