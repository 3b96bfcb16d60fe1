/**
 * Twilio's prices, as the cost estimates read them (issue 31): one small Sync document per
 * country (`prices-JP`), written from the Pricing API (Messaging v1 and Voice v2 for the country,
 * read together) and read again from it at most once a day. A warm container keeps what it read
 * for ten minutes: Sync allows 20 reads per second of one document, and /notify runs at 80 per
 * second, so the document is read by each container, not by each request.
 *
 * When the Pricing API cannot be read, the last prices stay in use however old (and it is tried
 * again at the next read); with none at all the cost is unknown, which the answer says.
 */
import type { Twilio } from 'twilio';
import { currentDate, currentTime } from '../clock';
import type { SyncClient } from '../clients/sync';
import { isNotFound } from '../clients/twilio';
import { type CountryPrices, countryPricesFrom, smsPriceOf, voicePricesOf } from '../costs/prices';
import { errorText, log } from '../log';
import { DOCUMENT_BUDGET_BYTES, fetchDocument, isConflict, writeDocument } from './documents';

const DAY_MS = 86_400_000;
/** how long a container trusts what it read, in its own time (see above) */
const MEMORY_MS = 10 * 60_000;
const held = new Map<string, { prices: CountryPrices; readAt: number }>();

const documentName = (country: string) => `prices-${country}`;
const isStale = (p: CountryPrices) => currentTime() - Date.parse(p.fetchedAt) >= DAY_MS;
/** the Pricing API answers 404 for a country it has no prices for: that is an answer, not an outage */
const orNone = (err: unknown) => {
  if (isNotFound(err)) return undefined;
  throw err;
};

export class PriceStore {
  constructor(
    private readonly sync: SyncClient,
    private readonly client: Twilio,
  ) {}

  /** A country's prices (ISO 3166 alpha-2; undefined: none could be read, nor were any kept). */
  async forCountry(country: string): Promise<CountryPrices | undefined> {
    const h = held.get(country);
    if (h && performance.now() - h.readAt < MEMORY_MS && !isStale(h.prices)) return h.prices;
    const found = await fetchDocument(this.sync, documentName(country)).catch((err) => {
      log.warn('prices not read from Sync', { country, error: errorText(err) });
      return undefined;
    });
    const stored = countryPricesFrom(found?.data);
    const prices = !stored || isStale(stored) ? ((await this.refresh(country, found?.revision)) ?? stored) : stored;
    if (prices) held.set(country, { prices, readAt: performance.now() });
    return prices;
  }

  /** Reads the Pricing API for `country` and keeps the answer in Sync (undefined when it cannot be read). */
  private async refresh(country: string, revision: string | undefined): Promise<CountryPrices | undefined> {
    let prices: CountryPrices;
    try {
      const [messaging, voice] = await Promise.all([
        this.client.pricing.v1.messaging.countries(country).fetch().catch(orNone),
        this.client.pricing.v2.voice.countries(country).fetch().catch(orNone),
      ]);
      const sms = smsPriceOf(messaging?.toJSON());
      const calls = voicePricesOf(voice?.toJSON());
      prices = {
        country,
        currency: sms.currency ?? calls.currency ?? 'USD',
        fetchedAt: currentDate().toISOString(),
        ...(sms.perSegment !== undefined ? { smsPerSegment: sms.perSegment } : {}),
        voice: fitted(calls.prefixes, country),
      };
    } catch (err) {
      log.warn('prices not read from the Pricing API', { country, error: errorText(err) });
      return undefined;
    }
    await writeDocument(this.sync, documentName(country), { v: 1, ...prices }, revision).catch((err) => {
      // another container refreshed them first: theirs are as good
      if (!isConflict(err)) log.warn('prices not kept in Sync', { country, error: errorText(err) });
    });
    return prices;
  }
}

/**
 * A country's voice prefixes as they fit in one Sync document. Most countries list a handful of
 * prices; one that lists too many prefixes is kept as its dearest price for every number, so the
 * estimate errs high, never low.
 */
function fitted(prefixes: Array<[number, string[]]>, country: string): Array<[number, string[]]> {
  if (Buffer.byteLength(JSON.stringify(prefixes)) < DOCUMENT_BUDGET_BYTES / 2) return prefixes;
  const dearest = Math.max(...prefixes.map(([p]) => p));
  log.warn('voice prices trimmed to the dearest', { country, prefixes: prefixes.length });
  return [[dearest, ['']]]; // the empty prefix: every number of the country
}
