/**
 * The sandbox's Pricing API (issue 31's first step), through the official client pointed at it as the
 * functions point theirs: Messaging prices per country (v1), Voice prices per country and per
 * destination number (v2), Twilio's 404 for a country it has no table for, and a Message charged
 * once sent, by its segments as carriers count them (Japanese: UCS-2, 67 characters per segment).
 * The answers' shapes are checked against Twilio's documents by the sandbox contract check too.
 */
import type twilio from 'twilio';
import { twilioClient } from '../src/lib/clients/twilio';
import { loadConfig } from '../src/lib/config';
import { sandboxFunctionEnv } from '../sandbox/launch';
import { SANDBOX_PRICES } from '../sandbox/pricing';
import { type Sandbox, startSandbox } from '../sandbox/server';
import { SANDBOX_DEFAULTS, settingsFromEnv } from '../sandbox/settings';

let sb: Sandbox;
let client: twilio.Twilio;

beforeAll(async () => {
  sb = await startSandbox({ ...settingsFromEnv({}), port: 0 });
  client = twilioClient(loadConfig(sandboxFunctionEnv(sb.url)));
});
afterAll(() => sb.close());

test('Messaging prices per country: carriers, the price per segment by number type, in USD', async () => {
  const jp = await client.pricing.v1.messaging.countries('JP').fetch();
  expect(jp.isoCountry).toBe('JP');
  expect(jp.priceUnit).toBe('USD');
  const carriers = jp.outboundSmsPrices as Array<{ carrier: string; prices: Array<{ current_price: string }> }>;
  expect(carriers.map((c) => c.carrier)).toContain('NTT Docomo');
  expect(Number(carriers[0].prices[0].current_price)).toBe(SANDBOX_PRICES.JP.sms.perSegment.mobile);
  const gb = await client.pricing.v1.messaging.countries('GB').fetch();
  expect(gb.country).toBe('United Kingdom');
});

test('Voice prices per country by destination prefix, and per destination number (longest prefix)', async () => {
  const jp = await client.pricing.v2.voice.countries('JP').fetch();
  // the SDK reads these records into camel-cased classes
  const mobilePrefix = jp.outboundPrefixPrices.find((p) => p.destinationPrefixes?.includes('8190'));
  expect(Number(mobilePrefix?.currentPrice)).toBe(0.15);
  const mobile = await client.pricing.v2.voice.numbers('+819012345678').fetch();
  expect(mobile.isoCountry).toBe('JP');
  expect(Number(mobile.outboundCallPrices[0].currentPrice)).toBe(0.15);
  const landline = await client.pricing.v2.voice.numbers('+81312345678').fetch();
  expect(Number(landline.outboundCallPrices[0].currentPrice)).toBe(0.085);
  const us = await client.pricing.v2.voice.numbers('+14155550100').fetch();
  expect(us.priceUnit).toBe('USD');
});

test('a country without a price table is a 404 (20404), as Twilio answers an unknown one', async () => {
  await expect(client.pricing.v1.messaging.countries('ZZ').fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
  await expect(client.pricing.v2.voice.countries('ZZ').fetch()).rejects.toMatchObject({ status: 404, code: 20404 });
});

test('a Japanese SMS of 71 characters is 2 segments, charged as 2 once sent (negative, as Twilio writes it)', async () => {
  const m = await client.messages.create({
    to: '+819012345678',
    messagingServiceSid: SANDBOX_DEFAULTS.MESSAGING_SERVICE_SID,
    body: 'あ'.repeat(71),
  });
  expect(m.numSegments).toBe('2');
  expect(m.priceUnit).toBe('USD');
  let price: string | null = null;
  for (let i = 0; i < 100 && price === null; i++) {
    price = (await client.messages(m.sid).fetch()).price;
    if (price === null) await new Promise((r) => setTimeout(r, 50));
  }
  expect(price).toBe((-2 * SANDBOX_PRICES.JP.sms.perSegment.mobile).toFixed(5));
});
