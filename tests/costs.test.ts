/** The pure parts of issue 31: prices from the Pricing API's answers, estimates, and routing for value. */
import { expectedCallMinutes } from '../src/lib/channels/call';
import { ConfigErrors, loadConfig, parseChannelCosts } from '../src/lib/config';
import { channelCosts, costBasisOf, stepCost, unitPricesFor } from '../src/lib/costs/estimate';
import { type CountryPrices, perMinuteFor, smsPriceOf, voicePricesOf } from '../src/lib/costs/prices';
import { bestTime } from '../src/lib/routing/best-time';
import { chooseChannel } from '../src/lib/routing/learn';
import { sandboxFunctionEnv } from '../sandbox/launch';

const JP: CountryPrices = {
  country: 'JP',
  currency: 'USD',
  fetchedAt: '2026-12-01T00:00:00Z',
  smsPerSegment: 0.08,
  voice: [
    [0.15, ['8170', '8180', '8190']],
    [0.085, ['81']],
  ],
};
const settings = { costCurrency: 'USD', emailCost: 0.0004, channelCosts: {} };

test('the dearest SMS price over carriers and number types; voice prices by prefix, snake or camel case', () => {
  const messaging = {
    price_unit: 'usd',
    outbound_sms_prices: [
      { carrier: 'A', prices: [{ number_type: 'local', current_price: '0.0700' }] },
      {
        carrier: 'B',
        prices: [
          { number_type: 'mobile', currentPrice: '0.0810' },
          { number_type: 'x', current_price: 'n/a' },
        ],
      },
    ],
  };
  expect(smsPriceOf(messaging)).toEqual({ perSegment: 0.081, currency: 'USD' });
  expect(smsPriceOf({ outboundSmsPrices: [] })).toEqual({});
  const voice = {
    priceUnit: 'USD',
    outboundPrefixPrices: [
      { destinationPrefixes: ['8190', 'bad'], currentPrice: '0.15' },
      { destination_prefixes: ['81'], base_price: '0.085' },
    ],
  };
  expect(voicePricesOf(voice)).toEqual({
    prefixes: [
      [0.15, ['8190']],
      [0.085, ['81']],
    ],
    currency: 'USD',
  });
});

test('a call is priced by the longest prefix of the number', () => {
  expect(perMinuteFor(JP, '+819012345678')).toBe(0.15);
  expect(perMinuteFor(JP, '+81312345678')).toBe(0.085);
  expect(perMinuteFor(JP, '+14155550100')).toBeUndefined();
});

test('estimates: segments × price, expected minutes × price per minute, EMAIL_COST; another currency is unknown, never converted', () => {
  const unit = unitPricesFor(settings, '+819012345678', JP);
  expect(unit).toEqual({ currency: 'USD', sms: 0.08, call: 0.15, email: 0.0004 });
  const basis = costBasisOf({ message: 'あ'.repeat(140), locale: 'ja-JP' });
  expect(basis.segments).toBe(3); // UCS-2: 67 per segment when split
  expect(stepCost('SMS', unit, basis)).toBe(0.24);
  expect(stepCost('CALL', unit, basis)).toBe(0.15 * basis.callMinutes);
  const yen = unitPricesFor({ ...settings, costCurrency: 'JPY' }, '+819012345678', JP);
  expect(channelCosts(['SMS', 'CALL', 'EMAIL'], yen, basis)).toEqual({ EMAIL: 0.0004 });
  // CHANNEL_COSTS replaces the public prices
  const own = unitPricesFor({ ...settings, channelCosts: { SMS: 0.05 } }, '+819012345678', JP);
  expect(own.sms).toBe(0.05);
});

test('a call lasts its spoken text, the Gather wait and the closing line, in whole minutes, at least one', () => {
  expect(expectedCallMinutes('お知らせです。', 'ja-JP')).toBe(1);
  // 600 Japanese characters at about 8 a second: more than a minute of speech
  expect(expectedCallMinutes('あ'.repeat(600), 'ja-JP')).toBe(2);
  expect(expectedCallMinutes('a'.repeat(600), 'en-US')).toBe(1);
});

test('routing for value: equal engagement goes to the cheaper channel; enough engagement is worth its price', () => {
  const even = { SMS: { a: 5, b: 5, score: {} }, EMAIL: { a: 5, b: 5, score: {} } } as never;
  const costs = { SMS: 0.08, EMAIL: 0.0004 };
  expect(chooseChannel(even, () => 0, { value: 1, costs })).toBe('EMAIL');
  // SMS 0.8, email 0.2: worth 0.6 × value more, which pays 0.08 at a value of 1 but not of 0.1
  const apart = { SMS: { a: 80, b: 20, score: {} }, EMAIL: { a: 20, b: 80, score: {} } } as never;
  expect(chooseChannel(apart, () => 0, { value: 1, costs })).toBe('SMS');
  expect(chooseChannel(apart, () => 0, { value: 0.1, costs })).toBe('EMAIL');
});

test('the cost settings are checked like every other variable', () => {
  expect(parseChannelCosts('sms=0.08, CALL=0.15')).toEqual({ SMS: 0.08, CALL: 0.15 });
  const env = sandboxFunctionEnv('http://127.0.0.1:1');
  expect(loadConfig(env)).toMatchObject({ costCurrency: 'USD', emailCost: 0, channelCosts: {} });
  const bad = { ...env, CHANNEL_COSTS: 'SMS=cheap', COST_CURRENCY: 'yen', ENGAGEMENT_VALUE: '0', EMAIL_COST: '-1' };
  try {
    loadConfig(bad);
    throw new Error('accepted');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigErrors);
    const names = (err as ConfigErrors).problems.map((p) => p.variable);
    expect(names.sort()).toEqual(['CHANNEL_COSTS', 'COST_CURRENCY', 'EMAIL_COST', 'ENGAGEMENT_VALUE']);
  }
  expect(() => loadConfig({ ...env, EMAIL_COST: '0.001', CHANNEL_COSTS: 'EMAIL=0.001' })).toThrow(/set one/);
});

test('sendAt=best weighs value and cost the same way: of equal engagement, the cheaper channel', () => {
  const even = { SMS: { a: 5, b: 5, score: {} }, EMAIL: { a: 5, b: 5, score: {} } } as never;
  const input = {
    now: Date.UTC(2026, 11, 1, 3),
    withinMs: 6 * 3_600_000,
    timezone: 'Asia/Tokyo',
    channels: ['SMS', 'EMAIL'] as Array<'SMS' | 'EMAIL'>,
    canScheduleSms: true,
    overall: even,
    evidence: {},
    bands: {},
    effects: {},
    halfLifeDays: 30,
  };
  expect(bestTime({ ...input, worth: { value: 1, costs: { SMS: 0.08, EMAIL: 0.0004 } } })?.channel).toBe('EMAIL');
  expect(bestTime({ ...input, worth: { value: 1, costs: { SMS: 0.0001, EMAIL: 0.0004 } } })?.channel).toBe('SMS');
});
