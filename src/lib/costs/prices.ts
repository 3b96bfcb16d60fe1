/**
 * A country's prices as Twilio's Pricing API states them, reduced to what an estimate needs and
 * small enough for one Sync document: the dearest outbound SMS price per segment (over the
 * country's carriers and the sender's number types: an estimate should not come in under the
 * bill), and the per-minute price of each outbound voice destination prefix (the longest prefix
 * matching a number applies, as Twilio's Voice pricing per number does).
 */
export interface CountryPrices {
  /** ISO 3166 alpha-2 */
  country: string;
  /** the Pricing API's price_unit (the account's currency) */
  currency: string;
  /** when the Pricing API was read (ISO 8601) */
  fetchedAt: string;
  /** per segment; undefined: the country has no SMS price (Twilio answered 404, or lists none) */
  smsPerSegment?: number;
  /** [per minute, destination prefixes] */
  voice: Array<[number, string[]]>;
}

type Loose = Record<string, unknown>;

/** A field as the API names it (snake_case) or as the twilio SDK hands it over (camelCase). */
const field = (o: Loose, snake: string): unknown =>
  o[snake] ?? o[snake.replace(/_([a-z])/g, (_, c) => c.toUpperCase())];

const price = (o: Loose): number | undefined => {
  const v = Number(field(o, 'current_price') ?? field(o, 'base_price'));
  return Number.isFinite(v) && v >= 0 ? v : undefined;
};

const records = (v: unknown): Loose[] => (Array.isArray(v) ? v.filter((x) => x && typeof x === 'object') : []);

/** The Messaging pricing of a country (v1 Messaging/Countries/{IsoCountry}): its dearest SMS per segment. */
export function smsPriceOf(messaging: unknown): { perSegment?: number; currency?: string } {
  if (!messaging || typeof messaging !== 'object') return {};
  const m = messaging as Loose;
  const all = records(field(m, 'outbound_sms_prices')).flatMap((carrier) =>
    records(carrier.prices)
      .map(price)
      .filter((p): p is number => p !== undefined),
  );
  const unit = field(m, 'price_unit');
  return {
    ...(all.length ? { perSegment: Math.max(...all) } : {}),
    ...(typeof unit === 'string' ? { currency: unit.toUpperCase() } : {}),
  };
}

/** The Voice pricing of a country (v2 Voice/Countries/{IsoCountry}): per-minute price by destination prefix. */
export function voicePricesOf(voice: unknown): { prefixes: Array<[number, string[]]>; currency?: string } {
  if (!voice || typeof voice !== 'object') return { prefixes: [] };
  const v = voice as Loose;
  const prefixes: Array<[number, string[]]> = [];
  for (const row of records(field(v, 'outbound_prefix_prices'))) {
    const perMinute = price(row);
    const dest = field(row, 'destination_prefixes');
    const list = Array.isArray(dest) ? dest.filter((d): d is string => typeof d === 'string' && /^\d+$/.test(d)) : [];
    if (perMinute !== undefined && list.length) prefixes.push([perMinute, list]);
  }
  const unit = field(v, 'price_unit');
  return { prefixes, ...(typeof unit === 'string' ? { currency: unit.toUpperCase() } : {}) };
}

/** The price per minute of a call to `e164`: the longest destination prefix its digits start with. */
export function perMinuteFor(prices: CountryPrices, e164: string): number | undefined {
  const digits = e164.replace(/^\+/, '');
  let best: { length: number; perMinute: number } | undefined;
  for (const [perMinute, prefixes] of prices.voice)
    for (const p of prefixes)
      if (digits.startsWith(p) && (!best || p.length > best.length)) best = { length: p.length, perMinute };
  return best?.perMinute;
}

/** Stored prices, checked (undefined when malformed). */
export function countryPricesFrom(data: unknown): CountryPrices | undefined {
  const d = data as Partial<CountryPrices> | undefined;
  if (!d || typeof d.country !== 'string' || typeof d.currency !== 'string' || typeof d.fetchedAt !== 'string')
    return undefined;
  const voice = Array.isArray(d.voice)
    ? d.voice.filter((row) => Array.isArray(row) && Number.isFinite(row[0]) && Array.isArray(row[1]))
    : [];
  const sms = Number.isFinite(d.smsPerSegment) ? { smsPerSegment: d.smsPerSegment } : {};
  return { country: d.country, currency: d.currency, fetchedAt: d.fetchedAt, ...sms, voice };
}
