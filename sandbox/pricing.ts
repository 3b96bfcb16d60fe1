/**
 * Twilio's Pricing API as the sandbox serves it (pricing.twilio.com, routed under /pricing):
 * Messaging prices per country (v1) and Voice prices per country and per destination number (v2),
 * shaped as twilio_pricing_v1.json and twilio_pricing_v2.json describe. The figures are the
 * sandbox's own, in USD, of the order of Twilio's public prices: they are not quotes, and a live
 * account reads its own from Twilio.
 *
 * Also what a Message or a Call is charged once it is sent or completed (Twilio writes `price` as a
 * negative amount in `price_unit`): segments × the country's price per segment, and the minutes,
 * rounded up, × the destination prefix's price per minute.
 */
import type { Router, SandboxRequest, SandboxResponse } from './http';

interface CountryPrices {
  country: string;
  /** the country's calling code, which its E.164 numbers start with */
  code: string;
  /** per segment, by the sender's number type; the carriers as Twilio lists them */
  sms: { carriers: Array<{ carrier: string; mcc: string; mnc: string }>; perSegment: Record<string, number> };
  inboundSms: Record<string, number>;
  /** per minute, by destination prefix (the longest matching prefix applies) */
  voice: Array<{ name: string; prefixes: string[]; perMinute: number }>;
  inboundVoice: Record<string, number>;
}

export const PRICE_UNIT = 'USD';

/** The sandbox's own price table (see above): JP, US and GB. */
export const SANDBOX_PRICES: Record<string, CountryPrices> = {
  JP: {
    country: 'Japan',
    code: '81',
    sms: {
      carriers: [
        { carrier: 'NTT Docomo', mcc: '440', mnc: '10' },
        { carrier: 'KDDI', mcc: '440', mnc: '50' },
        { carrier: 'SoftBank', mcc: '440', mnc: '20' },
      ],
      perSegment: { mobile: 0.0797, local: 0.0797 },
    },
    inboundSms: { mobile: 0 },
    voice: [
      { name: 'Japan - Mobile', prefixes: ['8170', '8180', '8190'], perMinute: 0.15 },
      { name: 'Japan', prefixes: ['81'], perMinute: 0.085 },
    ],
    inboundVoice: { local: 0.01, 'toll free': 0.12 },
  },
  US: {
    country: 'United States',
    code: '1',
    sms: {
      carriers: [
        { carrier: 'AT&T Wireless', mcc: '310', mnc: '410' },
        { carrier: 'Verizon Wireless', mcc: '311', mnc: '480' },
        { carrier: 'T-Mobile USA', mcc: '310', mnc: '260' },
      ],
      perSegment: { local: 0.0083, 'toll free': 0.0083, shortcode: 0.0083 },
    },
    inboundSms: { local: 0.0083, 'toll free': 0.0083 },
    voice: [{ name: 'United States', prefixes: ['1'], perMinute: 0.014 }],
    inboundVoice: { local: 0.0085, 'toll free': 0.022 },
  },
  GB: {
    country: 'United Kingdom',
    code: '44',
    sms: {
      carriers: [
        { carrier: 'EE', mcc: '234', mnc: '30' },
        { carrier: 'Vodafone', mcc: '234', mnc: '15' },
        { carrier: 'O2', mcc: '234', mnc: '10' },
      ],
      perSegment: { mobile: 0.0524, local: 0.0524 },
    },
    inboundSms: { mobile: 0.0075 },
    voice: [
      { name: 'United Kingdom - Mobile', prefixes: ['447'], perMinute: 0.034 },
      { name: 'United Kingdom', prefixes: ['44'], perMinute: 0.0155 },
    ],
    inboundVoice: { local: 0.01, mobile: 0.01 },
  },
};

/** Twilio writes prices as decimal strings. */
const amount = (x: number) => x.toFixed(5);

/** Prices by number type as Twilio lists them (its base and current price are the same here: no discounts). */
const byNumberType = (prices: Record<string, number>) =>
  Object.entries(prices).map(([number_type, price]) => ({
    number_type,
    base_price: amount(price),
    current_price: amount(price),
  }));

/** The route's country, or Twilio's 404 when the table has none. */
const countryRoute =
  (notFound: (path: string) => SandboxResponse, view: (iso: string, p: CountryPrices) => unknown) =>
  (req: SandboxRequest): SandboxResponse => {
    const iso = req.params.IsoCountry.toUpperCase();
    const p = SANDBOX_PRICES[iso];
    return p ? { status: 200, body: view(iso, p) } : notFound(req.path);
  };

/** Of the entries whose prefix the number's digits start with, the one with the longest prefix. */
function longestPrefix<T>(e164: string, entries: T[], prefixOf: (t: T) => string): T | undefined {
  const digits = e164.replace(/^\+/, '');
  return entries
    .filter((t) => digits.startsWith(prefixOf(t)))
    .sort((a, b) => prefixOf(b).length - prefixOf(a).length)[0];
}

/** The country a number belongs to, by its calling code. */
export function countryOf(e164: string): string | undefined {
  return longestPrefix(e164, Object.entries(SANDBOX_PRICES), ([, p]) => p.code)?.[0];
}

/** The destination's price per minute: its country's longest matching prefix. */
function voicePriceOf(e164: string): { iso: string; perMinute: number } | undefined {
  const iso = countryOf(e164);
  if (!iso) return undefined;
  const prefixes = SANDBOX_PRICES[iso].voice.flatMap((v) => v.prefixes.map((prefix) => ({ prefix, ...v })));
  const match = longestPrefix(e164, prefixes, (v) => v.prefix);
  return match && { iso, perMinute: match.perMinute };
}

/** What an outbound SMS of `segments` is charged (negative, as Twilio writes it); null for a country not in the table. */
export function smsCharge(to: string, segments: number): string | null {
  const iso = countryOf(to);
  if (!iso) return null;
  const prices = Object.values(SANDBOX_PRICES[iso].sms.perSegment);
  return amount(-segments * Math.max(...prices));
}

/** What an outbound call of `seconds` is charged: whole minutes, rounded up (negative, as Twilio writes it). */
export function callCharge(to: string, seconds: number): string | null {
  const v = voicePriceOf(to);
  if (!v) return null;
  return amount(-Math.ceil(seconds / 60) * v.perMinute);
}

type Guarded = (h: (req: SandboxRequest) => SandboxResponse) => (req: SandboxRequest) => SandboxResponse;

/** The routes, behind Twilio's authentication (`guard`); `notFound` is Twilio's 404 (20404). */
export function registerPricingApi(router: Router, guard: Guarded, notFound: (path: string) => SandboxResponse): void {
  router.on(
    'GET',
    '/pricing/v1/Messaging/Countries/:IsoCountry',
    guard(
      countryRoute(notFound, (iso, p) => ({
        country: p.country,
        iso_country: iso,
        outbound_sms_prices: p.sms.carriers.map((c) => ({ ...c, prices: byNumberType(p.sms.perSegment) })),
        inbound_sms_prices: byNumberType(p.inboundSms),
        price_unit: PRICE_UNIT,
        url: `https://pricing.twilio.com/v1/Messaging/Countries/${iso}`,
      })),
    ),
  );

  router.on(
    'GET',
    '/pricing/v2/Voice/Countries/:IsoCountry',
    guard(
      countryRoute(notFound, (iso, p) => ({
        country: p.country,
        iso_country: iso,
        outbound_prefix_prices: p.voice.map((v) => ({
          destination_prefixes: v.prefixes,
          origination_prefixes: ['ALL'],
          friendly_name: v.name,
          base_price: amount(v.perMinute),
          current_price: amount(v.perMinute),
        })),
        inbound_call_prices: byNumberType(p.inboundVoice),
        price_unit: PRICE_UNIT,
        url: `https://pricing.twilio.com/v2/Voice/Countries/${iso}`,
      })),
    ),
  );

  router.on(
    'GET',
    '/pricing/v2/Voice/Numbers/:DestinationNumber',
    guard((req) => {
      const number = req.params.DestinationNumber;
      const v = /^\+[1-9]\d{1,14}$/.test(number) ? voicePriceOf(number) : undefined;
      if (!v) return notFound(req.path);
      const p = SANDBOX_PRICES[v.iso];
      const origination = req.query.get('OriginationNumber');
      const body = {
        destination_number: number,
        origination_number: origination,
        country: p.country,
        iso_country: v.iso,
        outbound_call_prices: [
          { base_price: amount(v.perMinute), current_price: amount(v.perMinute), origination_prefixes: ['ALL'] },
        ],
        inbound_call_price: { base_price: null, current_price: null, number_type: null },
        price_unit: PRICE_UNIT,
        url: `https://pricing.twilio.com/v2/Voice/Numbers/${encodeURIComponent(number)}`,
      };
      return { status: 200, body };
    }),
  );
}
