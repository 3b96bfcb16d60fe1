/**
 * The population prior's store (src/lib/store/prior.ts) against the sandbox's
 * Sync: appended deltas add up for a warm reader and a cold one, the warm one
 * refreshes beside requests, and a reader folds what it added into the summary.
 */
import { SyncClient } from '../src/lib/clients/sync';
import { CHANNELS } from '../src/lib/channel-list';
import { BANDS } from '../src/lib/routing/bands';
import { addSums, type PopulationSums, priorsOf, sumsOf } from '../src/lib/routing/learn';
import { inProcessSandbox } from './setup/in-process-sandbox';

const local = inProcessSandbox();

/** A fresh copy of the module: a cold container (the prior cache is per module instance). */
function coldStore() {
  let store: import('../src/lib/store/prior').PriorStore | undefined;
  jest.isolateModules(() => {
    const { PriorStore } = require('../src/lib/store/prior') as typeof import('../src/lib/store/prior');
    store = new PriorStore(new SyncClient(local.config));
  });
  return store as import('../src/lib/store/prior').PriorStore;
}

const oneUser = (channel: 'SMS' | 'EMAIL', sent: number, engaged: number): PopulationSums => ({
  [channel]: { users: 1, n: sent, k: engaged, nn: sent * (sent - 1), kk: engaged * (engaged - 1) },
});

function total(deltas: PopulationSums[]): PopulationSums {
  const out: PopulationSums = {};
  for (const d of deltas)
    for (const [c, s] of Object.entries(d) as Array<['SMS' | 'EMAIL', NonNullable<PopulationSums['SMS']>]>) {
      const o = out[c] ?? { users: 0, n: 0, k: 0, nn: 0, kk: 0 };
      out[c] = { users: o.users + s.users, n: o.n + s.n, k: o.k + s.k, nn: o.nn + s.nn, kk: o.kk + s.kk };
    }
  return out;
}

/** Waits (up to 2 s) for the background refresh to land, then compares. */
async function settlesTo(read: () => Promise<unknown>, expected: unknown) {
  for (let i = 0; i < 100 && JSON.stringify(await read()) !== JSON.stringify(expected); i++)
    await new Promise((r) => setTimeout(r, 20));
  expect(await read()).toEqual(expected);
}

test('appended deltas add up for a warm reader (refreshed beside requests) and a cold one (from the folded summary)', async () => {
  const warm = coldStore();
  const t0 = Date.now();
  expect((await warm.population(t0)).priors).toEqual(priorsOf({})); // nothing yet; its first read created the 32 lists
  expect(local.sb.state.syncLists.size).toBe(32);

  const deltas = Array.from({ length: 120 }, (_, i) => oneUser(i % 3 ? 'SMS' : 'EMAIL', 4, i % 4));
  await Promise.all(deltas.map((d, i) => warm.add(i % 4, { sums: d }))); // concurrent appends: none lost
  expect((await warm.population(t0 + 1000)).priors).toEqual(priorsOf({})); // within a minute: the cache, no read

  // a minute later the stale prior is answered at once and refreshed beside the request
  const requests = () => local.sb.state.requestCounts.sync ?? 0;
  const before = requests();
  expect((await warm.population(t0 + 61_000)).priors).toEqual(priorsOf({}));
  const expected = priorsOf(total(deltas));
  await settlesTo(async () => (await warm.population(t0 + 62_000)).priors, expected);
  expect(requests() - before).toBeGreaterThan(32); // every shard's items and summary were read

  // shards 0–3 got 30 items each, fewer than a fold needs (50): no summary yet
  const summaries = () =>
    [...local.sb.state.syncDocuments.values()].filter((d) => d.unique_name?.startsWith('prior-sum-')).length;
  expect(summaries()).toBe(0);

  // 60 more into shard 5: the next refresh folds shard 5 (90 items ≥ 50)
  const more = Array.from({ length: 60 }, () => oneUser('SMS', 2, 1));
  for (const d of more) await warm.add(5, { sums: d });
  expect((await warm.population(t0 + 130_000)).priors).toEqual(expected); // stale answer, refresh started
  await settlesTo(async () => (await warm.population(t0 + 131_000)).priors, priorsOf(total([...deltas, ...more])));
  const folded = [...local.sb.state.syncDocuments.values()].find((d) => d.unique_name === 'prior-sum-5');
  expect(folded?.data).toEqual({ v: 1, sums: total(more), t: {}, through: 59 });

  // a cold container reads the summary and only the items after it
  await warm.add(5, { sums: oneUser('EMAIL', 1, 1) });
  const cold = coldStore();
  expect((await cold.population()).priors).toEqual(priorsOf(total([...deltas, ...more, oneUser('EMAIL', 1, 1)])));
});

test('a container idle for a quarter of an hour waits for the refresh instead of routing by the old prior', async () => {
  const store = coldStore();
  const t0 = Date.now();
  await store.population(t0); // warm now, with what the lists hold
  const before = (await store.population(t0 + 1000)).priors;
  const deltas = Array.from({ length: 40 }, (_, i) => oneUser('SMS', 5, i % 5));
  for (const [i, d] of deltas.entries()) await store.add(10 + (i % 3), { sums: d });
  // within 15 minutes the old prior is answered at once (and refreshed beside the request) …
  expect((await store.population(t0 + 14 * 60_000)).priors).toEqual(before);
  for (
    let i = 0;
    i < 100 && JSON.stringify((await store.population(t0 + 14 * 60_000)).priors.SMS) === JSON.stringify(before.SMS);
    i++
  )
    await new Promise((r) => setTimeout(r, 20));
  expect((await store.population(t0 + 14 * 60_000)).priors.SMS).not.toEqual(before.SMS); // the refresh landed
  const more = Array.from({ length: 40 }, () => oneUser('EMAIL', 3, 3));
  for (const [i, d] of more.entries()) await store.add(20 + (i % 3), { sums: d });
  // … past that, the first answer already holds everything appended since
  const after = (await store.population(t0 + 14 * 60_000 + 16 * 60_000)).priors;
  expect(after.EMAIL).not.toEqual(before.EMAIL);
  expect(after.EMAIL).toEqual((await store.population(t0 + 14 * 60_000 + 16 * 60_000 + 1000)).priors.EMAIL);
});

test('the population sums keep every channel and every channel@band of the one lists, and nothing else', () => {
  const one = { users: 1, n: 2, k: 1, nn: 2, kk: 0 };
  const keys = [...CHANNELS, ...CHANNELS.flatMap((c) => BANDS.map((b) => `${c}@${b}`))];
  const stored = Object.fromEntries([...keys, 'PIGEON', 'SMS@noon', '__proto__x'].map((k) => [k, one]));
  expect(Object.keys(sumsOf(stored)).sort()).toEqual([...keys].sort());
  expect(Object.keys(addSums({}, stored as PopulationSums)).sort()).toEqual([...keys].sort());
});
