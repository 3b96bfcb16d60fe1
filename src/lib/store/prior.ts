/**
 * The population prior in Twilio Sync: what all users' evidence adds up to.
 *
 * A change to a user's evidence is appended, as a small delta of sums, to one
 * of PRIOR_SHARDS Sync Lists (`prior-<k>`, k from the user's hash). Appending
 * needs no read and cannot conflict, so it goes out beside the user's own
 * evidence write and adds no round trip. At 200 events/s across the account
 * each list takes about 6 writes/s (Sync allows 20 per object, a List being one
 * object for its items), and each item is ~200 bytes (under the 1 KiB above
 * which Sync throttles harder).
 *
 * Readers add the items up. A warm container keeps its sums and the last
 * index it added per shard, and refreshes every PRIOR_TTL_MS, beside a
 * request, by reading only the items after it (one page in the usual case,
 * all shards in parallel). A cold container's first read creates the lists
 * that do not exist yet. So that a cold container need not read every item, a reader that
 * is FOLD_AFTER items ahead of the shard's summary document (`prior-sum-<k>`:
 * sums and the last index they include) writes its sums there (If-Match; a
 * newer summary wins). Items expire after PRIOR_ITEM_TTL_S, long after any
 * reader has folded them.
 */
import { currentTime } from '../clock';
import { type SyncClient, SyncError } from '../clients/sync';
import type { Channel } from '../channel-list';
import { isNotFound } from '../clients/twilio';
import { errorText, log } from '../log';
import { bandEffectsOf, type Population } from '../routing/bands';
import { addTally, dayOf, type Tally, tallyFrom, tallySince } from '../insights/tally';
import { addSums, type PopulationSums, priorsOf, subtractSums, sumsOf } from '../routing/learn';
import {
  addHabitSums,
  addHabitSumsInto,
  type HabitSums,
  habitSumsOf,
  habitsOf,
  roundHabitSums,
} from '../routing/habits';
import { DOCUMENT_BUDGET_BYTES, fetchDocument, isConflict, writeDocument } from './documents';

export const PRIOR_SHARDS = 32;
const PRIOR_TTL_MS = 60_000;
/**
 * A cache older than this is not answered while its refresh runs: the request waits for it (one
 * round trip, all shards in parallel). A warm container idle for a quarter of an hour would otherwise
 * route its next burst by the population as it was then (`npm run bench:learning`, whose simulated
 * hours pass in seconds, measured what a stale prior costs: 0.6 points on the time-varying population,
 * 1.2 on strong crossover between bands).
 */
const PRIOR_STALE_MS = 15 * 60_000;
const PRIOR_ITEM_TTL_S = 30 * 24 * 3600;
const FOLD_AFTER = 50;
/** Sync's largest page of list items */
const PAGE_SIZE = 100;
/** pages one refresh reads per shard at most (a shard further behind catches up over the next refreshes) */
const MAX_PAGES = 10;

/** days of /insights counts a summary keeps (GET /insights looks back at most this far) */
export const TALLY_DAYS = 60;

const listName = (shard: number) => `prior-${shard}`;
const summaryName = (shard: number) => `prior-sum-${shard}`;

/**
 * What one change adds: the learner's sums, and the counts /insights reports (insights/tally.ts),
 * appended together so that both cost one item.
 */
export interface PriorDelta {
  sums: PopulationSums;
  tally?: Tally;
  /** the habits' sums (routing/habits.ts) */
  habits?: HabitSums;
}

export const addDelta = (a: PriorDelta, b: PriorDelta): PriorDelta => ({
  sums: addSums(a.sums, b.sums),
  tally: addTally(a.tally ?? {}, b.tally ?? {}),
  habits: addHabitSums(a.habits ?? {}, b.habits ?? {}),
});
export const subtractDelta = (a: PriorDelta, b: PriorDelta): PriorDelta => ({
  sums: subtractSums(a.sums, b.sums),
  tally: addTally(a.tally ?? {}, b.tally ?? {}, -1),
  habits: addHabitSums(a.habits ?? {}, b.habits ?? {}, -1),
});
const isEmpty = (d: PriorDelta) =>
  Object.keys(d.sums).length === 0 &&
  Object.keys(d.tally ?? {}).length === 0 &&
  Object.keys(roundHabitSums(d.habits ?? {})).length === 0;

/** One shard as a reader has added it up: the sums of every item up to index `through`. */
interface ShardView {
  sums: PopulationSums;
  tally: Tally;
  habits: HabitSums;
  through?: number;
  /** the refresh stopped at MAX_PAGES with items still unread */
  behind?: boolean;
}

/** The /insights counts as the shards add up. */
export interface TallyRead {
  tally: Tally;
  /** some shard had more unread items than one refresh reads (the next refresh catches up) */
  behind: boolean;
}

/** Per warm container: each shard's view, and the priors they make. */
let cache: { shards: ShardView[]; population: Population; tally: TallyRead; at: number } | undefined;
/** a refresh under way beside requests (a function frozen between invocations may leave one hanging) */
let refreshing: { running: Promise<Population>; since: number } | undefined;
const REFRESH_GIVE_UP_MS = 10_000;

export class PriorStore {
  constructor(private readonly documents: SyncClient) {}

  /** Adds a change of the population sums (and the counts) to `shard` (nothing when the change is empty). */
  async add(shard: number, delta: PriorDelta): Promise<void> {
    if (isEmpty(delta)) return;
    const tally = delta.tally ?? {};
    const habits = roundHabitSums(delta.habits ?? {});
    const item = {
      ...roundSums(delta.sums),
      ...(Object.keys(tally).length ? { t: tally } : {}),
      ...(Object.keys(habits).length ? { h: habits } : {}),
    };
    const append = () => this.documents.appendListItem(listName(shard), item, PRIOR_ITEM_TTL_S);
    try {
      await append();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.createList(shard); // the shard's first use
      await append();
    }
  }

  /**
   * The population prior. A warm container answers from its cache, adding no round trip: when the
   * cache is older than PRIOR_TTL_MS (in the service's time: the sandbox's clock when it runs against
   * the sandbox, so simulated days refresh it as real ones would) it is refreshed beside the request (the answer is at most a
   * refresh behind). A cold one reads every shard first (in parallel), once however many ask. A
   * shard that cannot be read keeps what was known of it; without any data the prior is uninformed.
   */
  /** The prior and the bands' effects (bands.ts), from the same sums and the same cache. */
  async population(now = currentTime()): Promise<Population> {
    if (cache && now - cache.at < PRIOR_TTL_MS) return cache.population;
    // one refresh at a time per container: a webhook with many engaged users asks for the prior once each
    if (!refreshing || now - refreshing.since > REFRESH_GIVE_UP_MS) {
      const running = this.refresh(now).finally(() => {
        if (refreshing?.running === running) refreshing = undefined;
      });
      running.catch(() => undefined); // a background refresh that fails keeps the cache: never an unhandled rejection
      refreshing = { running, since: now };
    }
    // warm: what is known, the refresh running beside the request; cold, or idle long enough for the
    // population to have moved (a container woken after a quiet spell): the refresh under way
    if (cache && now - cache.at < PRIOR_STALE_MS) return cache.population;
    const stale = cache;
    // a refresh that fails leaves the stale prior better than none
    return stale ? refreshing.running.catch(() => stale.population) : refreshing.running;
  }

  /**
   * The /insights counts, read now (every shard's items since this container last looked: at most
   * MAX_PAGES pages each, so one invocation answers however many there are). A shard that cannot be
   * read makes it fail: a count that silently leaves a shard out would be wrong.
   */
  async tally(now = currentTime()): Promise<TallyRead> {
    await this.refresh(now, true);
    return (cache as NonNullable<typeof cache>).tally;
  }

  private async refresh(now: number, strict = false): Promise<Population> {
    const known = cache?.shards;
    const shards = await Promise.all(
      Array.from({ length: PRIOR_SHARDS }, (_, k) =>
        this.refreshShard(k, known?.[k], now).catch((err) => {
          log.warn('prior shard not refreshed', { shard: k, error: errorText(err) });
          if (strict) throw err;
          return known?.[k] ?? { sums: {}, tally: {}, habits: {} };
        }),
      ),
    );
    let sums: PopulationSums = {};
    let tally: Tally = {};
    let habits: HabitSums = {};
    for (const s of shards) {
      sums = addSums(sums, s.sums);
      tally = addTally(tally, s.tally);
      habits = addHabitSums(habits, s.habits);
    }
    const population = { priors: priorsOf(sums), effects: bandEffectsOf(sums), habits: habitsOf(habits) };
    cache = { shards, population, tally: { tally, behind: shards.some((s) => s.behind) }, at: now };
    return cache.population;
  }

  /** A shard's view brought up to date: from what this container knew, or (cold) from the summary. */
  private async refreshShard(shard: number, known: ShardView | undefined, now: number): Promise<ShardView> {
    // read beside the items (a warm view needs it only to fold); settled here, so that a failure
    // while the items are read is never an unhandled rejection
    const summary = fetchDocument(this.documents, summaryName(shard)).then(
      (found) => ({ found }),
      (error: Error) => ({ error }),
    );
    let view = known;
    if (!view) {
      const read = await summary;
      if ('error' in read) throw read.error;
      view = summaryOf(read.found?.data);
    }
    const kept = dayOf(now - TALLY_DAYS * 86_400_000);
    let behind = true;
    for (let page = 0; page < MAX_PAGES && behind; page++) {
      const items = await this.itemsAfter(shard, view.through);
      let sums: PopulationSums = view.sums;
      let tally: Tally = view.tally;
      // a copy of the view's (a refresh that fails keeps the view it started from), then added in place
      const habits: HabitSums = addHabitSums({}, view.habits);
      for (const item of items) {
        const data = item.data as { t?: unknown; h?: unknown } | undefined;
        sums = addSums(sums, sumsOf(data));
        tally = addTally(tally, tallyFrom(data?.t));
        addHabitSumsInto(habits, habitSumsOf(data?.h));
      }
      view = { sums, tally: tallySince(tally, kept), habits, through: items.at(-1)?.index ?? view.through };
      behind = items.length >= PAGE_SIZE;
    }
    view.behind = behind;
    const read = await summary;
    if ('error' in read) return view; // folding waits for the next refresh
    const stored = read.found;
    const folded = summaryOf(stored?.data).through ?? -1;
    if (view.through !== undefined && view.through - folded >= FOLD_AFTER) {
      const sums = roundSums(view.sums);
      const h = roundHabitSums(view.habits);
      const t = tallyThatFits(view.tally, sums, h);
      const data = { v: 1, sums, ...(Object.keys(h).length ? { h } : {}), t, through: view.through };
      await writeDocument(this.documents, summaryName(shard), data, stored?.revision).catch((err) => {
        if (!isConflict(err)) log.warn('prior summary not written', { shard, error: errorText(err) });
      });
    }
    return view;
  }

  /** Creates a shard's list; another reader or writer creating it at the same time is fine. */
  private async createList(shard: number): Promise<void> {
    await this.documents.createList(listName(shard)).catch((e) => (isConflict(e) ? undefined : Promise.reject(e)));
  }

  private async itemsAfter(shard: number, through: number | undefined) {
    try {
      return await this.documents.listItemsAfter(listName(shard), PAGE_SIZE, through);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // nothing added to this shard yet: create its list now, so that the first add needs no extra round trip
      await this.createList(shard);
      return [];
    }
  }
}

/**
 * Prior deltas of many users' evidence, added up and appended once when the invocation's work is
 * done: a webhook of 900 users' opens makes one append, not 900. Readers add every shard up, so
 * which shard takes a sum does not matter: a random one spreads invocations over the lists (each a
 * Sync object with 20 writes/s).
 */
export class PooledPrior {
  private delta: PriorDelta = { sums: {} };
  /** the habits' part, added in place (habits.ts addHabitSumsInto: a copy per user is what it saves) */
  private habits: HabitSums = {};

  add(delta: PriorDelta): void {
    const { habits, ...rest } = delta;
    this.delta = addDelta(this.delta, rest);
    addHabitSumsInto(this.habits, habits ?? {});
  }

  /**
   * Appends the sum. When Sync refuses, the sum is handed to `keep` (a parcel recovery appends),
   * so that neither the prior nor the /insights counts lose it; only a failure to keep it too is
   * logged and lost.
   */
  async flush(store: PriorStore, keep?: KeepDelta): Promise<boolean> {
    const delta = { ...this.delta, habits: this.habits };
    this.delta = { sums: {} };
    this.habits = {};
    if (isEmpty(delta)) return false;
    const shard = Math.floor(Math.random() * PRIOR_SHARDS);
    try {
      await store.add(shard, delta);
      return true;
    } catch (err) {
      await keepOrLog(delta, err, keep);
      return false;
    }
  }
}

/** Where a delta Sync refused to append waits for recovery (a parcel: store/parcels.ts). */
export type KeepDelta = (delta: PriorDelta) => Promise<unknown>;

/**
 * A delta that could not be appended: kept when Sync answered (it was refused, not applied), logged
 * and dropped when the answer never came (it may have been applied: appending it again would count
 * it twice).
 */
export async function keepOrLog(delta: PriorDelta, err: unknown, keep?: KeepDelta): Promise<void> {
  const answered = err instanceof SyncError;
  if (keep && answered) {
    try {
      await keep(delta);
      log.warn('prior not updated now: kept for recovery', { error: errorText(err) });
      return;
    } catch (e) {
      log.error('prior delta not kept', { error: errorText(e) });
    }
  }
  log.warn('prior not updated', {
    error: errorText(err),
    counts: Object.keys(delta.tally ?? {}).length ? 'lost' : undefined,
  });
}

/**
 * The tally as a summary keeps it: all of it, or (five busy groups every day for 60 days can pass
 * 16 KiB) without its oldest days until the document fits, logged: /insights then misses those days
 * for a container that starts cold.
 */
export function tallyThatFits(tally: Tally, sums: PopulationSums, h: HabitSums = {}): Tally {
  const days = Object.keys(tally).sort();
  let kept = tally;
  while (
    days.length > 0 &&
    Buffer.byteLength(JSON.stringify({ v: 1, sums, h, t: kept, through: 0 })) > DOCUMENT_BUDGET_BYTES
  ) {
    kept = tallySince(kept, days[1] ?? '9999-12-31');
    days.shift();
  }
  if (kept !== tally) log.warn('prior summary too large: oldest insights days left out', { from: days[0] ?? 'none' });
  return kept;
}

/** A summary document's view (anything else, or none, is an empty view). */
function summaryOf(data: unknown): ShardView {
  const d = data as { v?: unknown; sums?: unknown; h?: unknown; t?: unknown; through?: unknown } | undefined;
  if (d?.v !== 1 || !Number.isSafeInteger(d.through)) return { sums: {}, tally: {}, habits: {} };
  return { sums: sumsOf(d.sums), tally: tallyFrom(d.t), habits: habitSumsOf(d.h), through: d.through as number };
}

/** Three decimals: items and summaries stay small (Sync throttles objects over 1 KiB harder). */
function roundSums(sums: PopulationSums): PopulationSums {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const out: PopulationSums = {};
  for (const [c, s] of Object.entries(sums) as Array<[Channel, NonNullable<PopulationSums[Channel]>]>) {
    out[c] = { users: r(s.users), n: r(s.n), k: r(s.k), nn: r(s.nn), kk: r(s.kk) };
  }
  return out;
}
