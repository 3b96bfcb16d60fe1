/**
 * What a send is expected to cost, before it goes out (issue 31): for each channel, its unit price
 * for this recipient times the units the content takes.
 *
 * - SMS: the segments the body is split into (UCS-2: 70, then 67 per segment) × the price per segment;
 * - a call: the minutes its TwiML is expected to last (channels/call.ts, at least one) × the price
 *   per minute for the destination's prefix;
 * - email: EMAIL_COST, per email (SendGrid bills by plan, not by message).
 *
 * Unit prices come from Twilio's Pricing API (store/prices.ts), or from CHANNEL_COSTS when the
 * account's prices differ from the public ones. A price in another currency than COST_CURRENCY is
 * not converted (no exchange rate is guessed): that channel's cost is unknown, and routing never
 * treats an unknown cost as free.
 */
import type { Channel } from '../channel-list';
import { expectedCallMinutes } from '../channels/call';
import { segmentsOf } from '../channels/sms';
import type { Config } from '../config';
import { type CountryPrices, perMinuteFor } from './prices';
import { roundCost } from './micros';

export type CostSettings = Pick<Config, 'costCurrency' | 'emailCost' | 'channelCosts'>;

/** One recipient's price per unit of each channel (undefined: unknown) in `currency`. */
export interface UnitPrices {
  currency: string;
  /** per segment */
  sms?: number;
  /** per minute */
  call?: number;
  /** per email */
  email?: number;
  /** per WhatsApp message (CHANNEL_COSTS only) */
  whatsapp?: number;
}

/** How many units a notification's content takes on each channel. */
export interface CostBasis {
  segments: number;
  callMinutes: number;
}

export function costBasisOf(content: { message: string; locale: string }): CostBasis {
  return {
    segments: segmentsOf(content.message).segments,
    callMinutes: expectedCallMinutes(content.message, content.locale),
  };
}

/** The unit prices for a phone number (its country's prices, when read) and the configured overrides. */
export function unitPricesFor(settings: CostSettings, phone: string | undefined, prices?: CountryPrices): UnitPrices {
  const own = settings.channelCosts;
  // prices in another currency are not converted: unknown
  const usable = prices && prices.currency === settings.costCurrency ? prices : undefined;
  return {
    currency: settings.costCurrency,
    sms: own.SMS ?? usable?.smsPerSegment,
    call: own.CALL ?? (usable && phone ? perMinuteFor(usable, phone) : undefined),
    email: own.EMAIL ?? settings.emailCost,
    whatsapp: own.WHATSAPP,
  };
}

/** Each channel's cost as units × unit price (one place per channel: a new channel must say how it is billed). */
const COST_OF: Record<Channel, (u: UnitPrices, b: CostBasis) => number | undefined> = {
  SMS: (u, b) => (u.sms === undefined ? undefined : u.sms * b.segments),
  CALL: (u, b) => (u.call === undefined ? undefined : u.call * b.callMinutes),
  EMAIL: (u) => u.email,
  // Twilio's Pricing API lists no WhatsApp prices (Meta bills per template category): CHANNEL_COSTS only
  WHATSAPP: (u) => u.whatsapp,
};

/** The expected cost of one send on `channel` (undefined: its price is unknown). */
export function stepCost(channel: Channel, unit: UnitPrices, basis: CostBasis): number | undefined {
  const c = COST_OF[channel]?.(unit, basis); // a channel without a price here: unknown, never free
  return c === undefined ? undefined : roundCost(c);
}

/** The expected cost of each of `channels` (the unknown left out). */
export function channelCosts(
  channels: readonly Channel[],
  unit: UnitPrices,
  basis: CostBasis,
): Partial<Record<Channel, number>> {
  const out: Partial<Record<Channel, number>> = {};
  for (const c of channels) {
    const cost = stepCost(c, unit, basis);
    if (cost !== undefined) out[c] = cost;
  }
  return out;
}
