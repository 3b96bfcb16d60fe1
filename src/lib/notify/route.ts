/**
 * Routing for one user: the profile's traits fill in missing addresses and the
 * preferred channel; the decision itself is routing.ts.
 */
import { type Channel, parseChannel } from '../channels';
import type { ProfileResult } from '../clients/profiles';
import type { Config } from '../config';
import { normalizeEmail, normalizePhone } from '../contact';
import { ApiError } from '../http/errors';
import { decide, reachability, type Reachability, type RouteReason } from '../routing';
import type { RoutingInput } from './input';

/** Traits read from the profile for routing. */
export function traitNames(config: Config): string[] {
  return [
    config.preferredChannelTrait,
    'phone',
    'email',
    'sms_opted_out',
    'email_opted_out',
    'invalid_phone',
    'sms_incapable_phone',
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
}

function validOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined; // an unusable address in the profile counts as no address
  }
}

const isTrue = (v: unknown) => v === true || v === 'true';

/** Decides the channel or throws 422 naming why no channel is possible. */
export function route(
  input: RoutingInput,
  profile: ProfileResult,
  config: Config,
  excluded: Partial<Record<Channel, string>> = {},
): Route {
  const traits = profile.traits;
  const phone =
    input.phone ??
    (typeof traits.phone === 'string'
      ? validOrUndefined(() => normalizePhone(traits.phone as string, input.locale))
      : undefined);
  const email =
    input.email ??
    (typeof traits.email === 'string' ? validOrUndefined(() => normalizeEmail(traits.email as string)) : undefined);
  const noCaller = config.twilioPhoneNumber ? {} : { CALL: 'no TWILIO_PHONE_NUMBER to call from' };
  // Numbers and addresses a provider refused before (traits written when it did).
  const refused: Partial<Record<Channel, string>> = {};
  if (phone && traits.invalid_phone === phone) refused.SMS = refused.CALL = 'the phone number was refused as invalid';
  else if (phone && traits.sms_incapable_phone === phone) refused.SMS = 'the phone number cannot receive SMS';
  if (email && traits.invalid_email === email) refused.EMAIL = 'the email address was refused as invalid';
  const reach = reachability({
    phone,
    email,
    smsOptedOut: isTrue(traits.sms_opted_out),
    emailOptedOut: isTrue(traits.email_opted_out),
    excluded: { ...noCaller, ...refused, ...excluded },
  });
  const preferred = parseChannel(traits[config.preferredChannelTrait]);
  const decision = decide(reach, { override: input.channel, preferred });
  if (!decision.ok)
    throw new ApiError(422, 'unreachable', decision.why, input.channel ? 'channel' : 'userId', {
      reachable: reach.reachable,
      unreachable: reach.unreachable,
    });
  return { channel: decision.channel, reason: decision.reason, preferred, reach, phone, email };
}

/**
 * Why this channel, as answered: a provider's refusal makes it a fallback (an
 * explicit `channel` 422s instead); an explicit escalation list is an
 * override; a CALL preference skipped for quiet hours says so.
 */
export function finalReason(
  r: Route,
  o: { explicitList: boolean; refused: boolean; quietSkipsCall: boolean },
): RouteReason {
  if (o.refused) return 'fallback';
  if (o.explicitList) return 'override';
  if (o.quietSkipsCall && r.preferred === 'CALL' && r.reason === 'fallback') return 'quiet_hours';
  return r.reason;
}
