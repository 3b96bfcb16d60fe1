/**
 * What /notify's sends are expected to cost (costs/estimate.ts), and whether it routes for value:
 * the prices are read in the first stage beside the other reads (the request's number's country,
 * or the locale's when only the profile has the number), so a send waits on no extra round trip
 * unless the profile's number is of another country than the one read.
 */
import { CHANNELS, type Channel } from '../../channel-list';
import type { ProfileResult } from '../../clients/profiles';
import type { Config } from '../../config';
import { countryOfPhone, regionOf } from '../../contact';
import { type CostBasis, channelCosts, costBasisOf, type UnitPrices, unitPricesFor } from '../../costs/estimate';
import type { CountryPrices } from '../../costs/prices';
import type { Worth } from '../../routing/learn';
import { addressesOf, type RoutingInput } from '../../routing/route';
import type { Deps } from '../deps';
import type { NotifyInput } from './input';

export interface Costing {
  unit: UnitPrices;
  /** each channel's expected cost for this content (unknown prices left out) */
  costs: Partial<Record<Channel, number>>;
  /** routing for value, when asked (ENGAGEMENT_VALUE or `value`) and the request lets the router choose */
  worth?: Worth;
}

/** CHANNEL_COSTS prices SMS and calls itself: no Pricing API needed. */
const pricesNeeded = (config: Config) =>
  config.channelCosts.SMS === undefined || config.channelCosts.CALL === undefined;

/** The first stage's read: the prices of the request's number's country, else of the locale's region. */
export async function readPrices(deps: Deps, input: RoutingInput): Promise<CountryPrices | undefined> {
  if (!pricesNeeded(deps.config)) return undefined;
  const country = input.phone ? countryOfPhone(input.phone) : regionOf(input.locale);
  return country ? deps.prices.forCountry(country) : undefined;
}

/** /channel without a message: the cost of one SMS segment and a call of one minute */
const ONE_UNIT: CostBasis = { segments: 1, callMinutes: 1 };

/** The recipient's unit prices and each channel's cost; `worth` when routing for value applies. */
export async function costingOf(
  deps: Deps,
  input: RoutingInput & Partial<Pick<NotifyInput, 'content' | 'escalation'>>,
  profile: ProfileResult,
  read: CountryPrices | undefined,
): Promise<Costing> {
  const config = deps.config;
  const phone = addressesOf(input, profile.traits).phone;
  // the profile's number, of another country than the one read in the first stage
  const country = phone ? countryOfPhone(phone) : undefined;
  const prices =
    country && pricesNeeded(config) && read?.country !== country ? await deps.prices.forCountry(country) : read;
  const unit = unitPricesFor(config, phone, prices);
  const costs = channelCosts(CHANNELS, unit, input.content ? costBasisOf(input.content) : ONE_UNIT);
  const value = input.value ?? config.engagementValue;
  // urgent and explicit channels ignore cost: the caller chose
  const routed = !input.urgent && !input.channel && !Array.isArray(input.escalation);
  return value === undefined || !routed ? { unit, costs } : { unit, costs, worth: { value, costs } };
}

/** Why a request asked to route for value was routed for engagement (the holdout's baseline aside). */
export function engagementWhy(costing: Costing, reachable: readonly Channel[]): string {
  const unknown = reachable.filter((c) => costing.costs[c] === undefined);
  return unknown.length
    ? `routed for engagement: the cost of ${unknown.join(' and ')} is unknown (no price in ${costing.unit.currency})`
    : 'routed for engagement: the learner is not routing (ROUTING_POLICY=trait, or the evidence store was unavailable)';
}
