/**
 * Routing for one user, shared by /notify and /channel so the two cannot
 * diverge: the profile's traits fill in missing addresses and the preferred
 * channel, quiet hours and earlier refusals take channels away, and decide()
 * picks among what is left.
 */
import { type Channel, CHANNELS, optOutTrait, parseChannel } from '../channel-list';
import type { ChannelRefused } from '../channels/provider';
import { WHATSAPP_INCAPABLE_TRAIT } from '../channels/sms';
import type { ProfileResult, Traits } from '../clients/profiles';
import type { Config } from '../config';
import { normalizeEmail, normalizePhone } from '../contact';
import { DomainError } from '../errors';
import { bandAt, type Band, bandPosteriors, forChannelChoice, type Knowledge, kindsPosteriors, trusted } from './bands';
import type { Predicted } from './habits';
import { parseQuietHours, type QuietHours, quietExclusions, validTimezone } from '../quiet-hours';
import { decide, type Reachability, type RouteReason, reachability } from './decide';
import { type Beta, bestChannel, chooseChannel, posteriors, type Score, scoresOf, type Worth } from './learn';

/** The user's time zone: the profile's `timezone` trait when valid, else DEFAULT_TIMEZONE. */
function timezoneOf(traits: Traits, config: Config): string {
  const tz = traits.timezone;
  return typeof tz === 'string' && validTimezone(tz) ? tz : config.defaultTimezone;
}

/** The quiet window for a request: its own `quietHours`, else QUIET_HOURS; none when urgent. */
function quietWindow(req: { urgent: boolean; quietHours?: string }, config: Config): QuietHours | undefined {
  if (req.urgent) return undefined;
  const text = req.quietHours ?? config.quietHours;
  return text && text !== 'none' ? parseQuietHours(text) : undefined;
}

/** What routing needs to know of a request. */
export interface RoutingInput {
  userId: string;
  locale: string;
  /** an explicit channel: no routing, no fallback */
  channel?: Channel;
  phone?: string;
  email?: string;
  /** the user's WhatsApp number (E.164): `whatsapp` on the request, or its `phone` with `whatsapp=true` */
  whatsapp?: string;
  /** ignore quiet hours */
  urgent: boolean;
  /** quiet hours for this request ("21:00-08:00", or "none"), overriding QUIET_HOURS */
  quietHours?: string;
  /** what one engagement is worth, in COST_CURRENCY (overrides ENGAGEMENT_VALUE): routes for value */
  value?: number;
}

/** Traits read from the profile for routing. */
export function traitNames(config: Config): string[] {
  return [
    config.preferredChannelTrait,
    'phone',
    'email',
    ...CHANNELS.flatMap((c) => optOutTrait(c) ?? []),
    'invalid_phone',
    'sms_incapable_phone',
    WHATSAPP_INCAPABLE_TRAIT,
    'invalid_email',
    'timezone',
  ];
}

export interface Route {
  channel: Channel;
  reason: RouteReason;
  preferred?: Channel;
  reach: Reachability;
  phone?: string;
  email?: string;
  whatsapp?: string;
  /** the user's time zone, and the quiet window that applies to this request */
  timezone: string;
  quiet?: QuietHours;
  /**
   * which policy routed: `learned`; `trait` (configured, the holdout's baseline, or the evidence store
   * was unavailable); `random` (the holdout's baseline with HOLDOUT_POLICY=random)
   */
  policy: 'learned' | 'trait' | 'random';
  /** each reachable channel's expected engagement and the evidence behind it (policy learned) */
  scores?: Partial<Record<Channel, Score>>;
  /** the channel with the best expected engagement */
  best?: Channel;
  /** with time bands: the band of the user's local day the decision was made for (scores are for it) */
  band?: Band;
  /**
   * asked to route for value: `value` when it did, `engagement` when it could not (the holdout, an
   * explicit channel, or a reachable channel whose cost is unknown: an unknown cost is never free)
   */
  objective?: 'value' | 'engagement';
  /** with the population's habits: what the kinds and the learner without them forecast for the channel */
  predicted?: Predicted;
}

function validOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined; // an unusable address in the profile counts as no address
  }
}

const isTrue = (v: unknown) => v === true || v === 'true';

export interface RouteOptions {
  now: Date;
  /** a scheduled notification is routed for its own time: quiet hours now do not apply */
  scheduled?: boolean;
  /** the request named its channels (an escalation list): routing only checks reachability */
  explicitList?: boolean;
  /** providers that refused this recipient during this request */
  refusals?: readonly ChannelRefused[];
  /** for ROUTING_POLICY=learned */
  knowledge?: Knowledge;
  /** when the step goes out (a scheduled send's time; default now): the learner decides for that time of day */
  at?: Date;
  /** the learner's pick made already (sendAt=best chose channel and time together) */
  chosen?: Channel;
  /** the user is in the holdout (holdout.ts): routed by HOLDOUT_POLICY, never by the learner */
  holdout?: boolean;
  /** routing for value (learn.ts): applied by the learner only, and only when every reachable channel's cost is known */
  worth?: Worth;
}

/** Whether every channel of `channels` has a known cost. */
export const costsKnown = (worth: Worth, channels: readonly Channel[]) =>
  channels.every((c) => worth.costs[c] !== undefined);

/** The phone and email to reach the user at: the request's, else the profile's traits when they are valid. */
export function addressesOf(input: RoutingInput, traits: ProfileResult['traits']) {
  const traitPhone = typeof traits.phone === 'string' ? traits.phone : undefined;
  const traitEmail = typeof traits.email === 'string' ? traits.email : undefined;
  const phone = input.phone ?? (traitPhone && validOrUndefined(() => normalizePhone(traitPhone, input.locale)));
  const email = input.email ?? (traitEmail && validOrUndefined(() => normalizeEmail(traitEmail)));
  return { phone: phone || undefined, email: email || undefined, whatsapp: input.whatsapp };
}

/** Channels ruled out, with why: no number to call from, addresses a provider refused before, quiet hours, refusals now. */
function exclusionsOf(
  address: { phone?: string; email?: string; whatsapp?: string },
  traits: ProfileResult['traits'],
  config: Config,
  o: RouteOptions,
  quietExcluded: Partial<Record<Channel, string>>,
): Partial<Record<Channel, string>> {
  const { phone, email, whatsapp } = address;
  const excluded: Partial<Record<Channel, string>> = config.twilioPhoneNumber
    ? {}
    : { CALL: 'no TWILIO_PHONE_NUMBER to call from' };
  if (!config.whatsappSender) excluded.WHATSAPP = 'no WHATSAPP_SENDER to send from';
  // Numbers and addresses a provider refused before (traits written when it did).
  if (phone && traits.invalid_phone === phone) excluded.SMS = excluded.CALL = 'the phone number was refused as invalid';
  else if (phone && traits.sms_incapable_phone === phone) excluded.SMS = 'the phone number cannot receive SMS';
  if (email && traits.invalid_email === email) excluded.EMAIL = 'the email address was refused as invalid';
  if (whatsapp && traits[WHATSAPP_INCAPABLE_TRAIT] === whatsapp)
    excluded.WHATSAPP = 'the number has no WhatsApp account (63003)';
  Object.assign(excluded, quietExcluded);
  for (const r of o.refusals ?? []) excluded[r.channel] = r.why;
  return excluded;
}

/**
 * The learner's posteriors: overall, for the band the step goes out in (`post`, what is answered), and
 * what the channel is chosen by (the habits' draw on the whole history; the band learner's alone are
 * explored as a channel).
 */
function learnedPosteriors(
  knowledge: Knowledge,
  reachable: readonly Channel[],
  o: { now: number; halfLifeDays: number; trait?: Channel; at: number; timezone: string },
) {
  const overall = posteriors(reachable, knowledge.priors, knowledge.evidence, o);
  if (!knowledge.bands || !knowledge.effects) return { post: overall, choosing: overall };
  const band = bandAt(o.at, o.timezone);
  const habits = knowledge.habits;
  if (!habits) {
    const learnedAt = { now: o.now, halfLifeDays: o.halfLifeDays };
    const post = bandPosteriors(overall, knowledge.evidence, knowledge.bands, knowledge.effects, band, learnedAt);
    return { post, choosing: forChannelChoice(post, overall), band };
  }
  const learnedAt = { now: o.now, halfLifeDays: o.halfLifeDays, habits, recent: knowledge.recent };
  const kinds = kindsPosteriors(overall, knowledge.evidence, knowledge.bands, band, learnedAt);
  const post = trusted(kinds, overall, habits.trust);
  // what each model forecast for the channel sent, scored when its outcome is known (habits.ts's trustOf)
  const predicted = (c: Channel): Predicted | undefined =>
    kinds[c] && overall[c] ? { habits: meanOf(kinds[c]), plain: meanOf(overall[c]) } : undefined;
  return { post, choosing: post, band, predicted };
}
const meanOf = (b: Beta) => b.a / (b.a + b.b);

/** Decides the channel, or throws `unreachable` naming why no channel is possible. */
export function decideRoute(input: RoutingInput, profile: ProfileResult, config: Config, o: RouteOptions): Route {
  const traits = profile.traits;
  const { phone, email, whatsapp } = addressesOf(input, traits);
  const timezone = timezoneOf(traits, config);
  const quiet = quietWindow(input, config);
  const quietExcluded = o.scheduled ? {} : quietExclusions(o.now, quiet, timezone);
  const excluded = exclusionsOf({ phone, email, whatsapp }, traits, config, o, quietExcluded);
  const optedOut = Object.fromEntries(CHANNELS.map((c) => [c, isTrue(traits[optOutTrait(c) ?? ''])]));
  const reach = reachability({ phone, email, whatsapp, optedOut, excluded });
  const preferred = parseChannel(traits[config.preferredChannelTrait]);
  const override = o.explicitList ? undefined : input.channel;
  const knowledge = config.routingPolicy === 'learned' && !o.holdout ? o.knowledge : undefined;
  // the holdout's random baseline ignores the trait (the trait baseline falls back to random by itself)
  const randomBaseline = Boolean(o.holdout) && config.holdoutPolicy === 'random';
  const { post, choosing, band, predicted } = knowledge
    ? learnedPosteriors(knowledge, reach.reachable, {
        now: o.now.getTime(),
        halfLifeDays: config.evidenceHalfLifeDays,
        trait: preferred,
        at: (o.at ?? o.now).getTime(),
        timezone,
      })
    : { post: undefined, choosing: undefined, band: undefined, predicted: undefined };
  const worth = knowledge && !override && o.worth && costsKnown(o.worth, reach.reachable) ? o.worth : undefined;
  const decision = decide(reach, {
    override,
    preferred: randomBaseline ? undefined : preferred,
    learned: o.chosen ?? (choosing && chooseChannel(choosing, Math.random, worth)),
  });
  if (!decision.ok) {
    const details = { reachable: reach.reachable, unreachable: reach.unreachable };
    throw new DomainError('unreachable', decision.why, override ? 'channel' : 'userId', details);
  }
  const policy = post ? ('learned' as const) : randomBaseline ? ('random' as const) : ('trait' as const);
  const forecast = predicted?.(decision.channel);
  const route = {
    channel: decision.channel,
    reason: decision.reason,
    preferred,
    reach,
    phone,
    email,
    ...(whatsapp ? { whatsapp } : {}),
    timezone,
    quiet,
    policy,
    ...(post ? { scores: scoresOf(post), best: bestChannel(post) } : {}),
    ...(band ? { band } : {}),
    ...(forecast ? { predicted: forecast } : {}),
    ...(o.worth ? { objective: worth ? ('value' as const) : ('engagement' as const) } : {}),
  };
  const refused = (o.refusals ?? []).length > 0;
  const facts = { explicitList: Boolean(o.explicitList), refused, quietSkipsCall: Boolean(quietExcluded.CALL) };
  return { ...route, reason: finalReason(route, facts) };
}

/**
 * Why this channel, as answered: a provider's refusal makes it a fallback (an
 * explicit `channel` fails instead); an explicit escalation list is an
 * override; a CALL preference skipped for quiet hours says so.
 */
export function finalReason(
  r: Pick<Route, 'preferred' | 'reason'>,
  o: { explicitList: boolean; refused: boolean; quietSkipsCall: boolean },
): RouteReason {
  if (o.refused) return 'fallback';
  if (o.explicitList) return 'override';
  if (o.quietSkipsCall && r.preferred === 'CALL' && r.reason === 'fallback') return 'quiet_hours';
  return r.reason;
}
