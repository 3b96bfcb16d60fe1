/**
 * What the learning router knows of each user, in Twilio Sync: one small
 * document per user (`evidence-<hash of the user id>`) with faded counts per
 * channel and the observations already counted (notification, channel, kind),
 * so that a redelivered webhook or a racing duplicate counts once. It is
 * written with If-Match, so concurrent webhooks lose no update, and each
 * change is added to the population prior (prior.ts) in the same round trip.
 */
import { createHash } from 'node:crypto';
import { currentTime } from '../clock';
import { type Channel, CHANNELS } from '../channel-list';
import type { Config } from '../config';
import { errorText, log } from '../log';
import {
  BANDS,
  type Band,
  type BandEvidence,
  bandSumsDelta,
  type Knowledge,
  observeInBand,
  type Population,
  RECENT_HALF_LIFE_DAYS,
} from '../routing/bands';
import { addSums, type ChannelEvidence, type Evidence, type EvidenceKind, observe, sumsDelta } from '../routing/learn';
import {
  addHabitSums,
  countsOf,
  fitSumsDelta,
  type Habits,
  habitSumsDelta,
  kept,
  type Pending,
  type Predicted,
  type Responsibilities,
  responsibilities,
  responsibilitiesOf,
  scoreEngagement,
  scoreSend,
  type UserFit,
  userFitOf,
} from '../routing/habits';
import { type Documents, fetchDocument, isConflict, readModifyWrite, userKey, writeDocument } from './documents';
import { tallyOf } from '../insights/tally';
import type { Group } from '../routing/holdout';
import {
  type KeepDelta,
  keepOrLog,
  type PooledPrior,
  type PriorDelta,
  PRIOR_SHARDS,
  PriorStore,
  subtractDelta,
  type TallyRead,
} from './prior';

/** Sync allows a TTL of at most a year; evidence older than that has faded anyway */
const EVIDENCE_TTL_S = 365 * 24 * 3600;
/** observations remembered per user for deduplication (a notification has at most 3 channels × 3 kinds, and notified) */
const SEEN_KEPT = 60;

export interface Observation {
  notificationId: string;
  channel: Channel;
  /**
   * what the learner counts (sent, engaged, failed), or for /insights only: `notified` (the notification
   * and its first channel, once), `unanswered` (a call nobody answered: failed in Segment, a send
   * without engagement to the learner)
   */
  kind: EvidenceKind | 'notified' | 'unanswered';
  /** the band of the user's local day the step went out in (older records: none, counted overall only) */
  band?: Band;
  /** the notification's group and UTC day, for /insights (insights/tally.ts; older records: not counted) */
  group?: Group;
  day?: string;
  /** a send's estimated cost in COST_CURRENCY (/insights' spend; unknown or older records: none) */
  cost?: number;
  /** a send routed with the population's habits: what the kinds and the learner without them forecast */
  predicted?: Predicted;
}

/**
 * One user's observations from a webhook, for the learner: attributed (each in the band its step
 * went out in, and the notification's group and day, as its record says), with the provider events'
 * ids that name the identify of what was learned. A large batch keeps these in an `evidence` parcel
 * for recovery to count, instead of counting them in its own invocation (app/webhooks/batches.ts).
 */
export interface Learning {
  userId: string;
  observations: Observation[];
  ids: string[];
}

const LEARNER_KINDS: ReadonlySet<string> = new Set<EvidenceKind>(['sent', 'engaged', 'failed']);

interface EvidenceDoc {
  v: 1;
  channels: Evidence;
  /** the same counts per band of the day (bands.ts); documents written before bands have none */
  bands?: BandEvidence;
  /**
   * the responsibilities the band counts were added to the habits' sums with (routing/habits.ts), so
   * that the next change takes back exactly that; none: not added yet
   */
  habit?: Responsibilities;
  /** the band counts again, fading with RECENT_HALF_LIFE_DAYS (bands.ts's habitsChanged); older documents: none */
  recent?: BandEvidence;
  /** how well the kinds forecast this user's sends, against the learner without them (habits.ts's trustOf) */
  fit?: UserFit;
  /** the forecasts of the last sends, until their engagement (habits.ts's scoreSend) */
  pending?: Pending;
  seen: string[];
}

const validCounts = (channels: unknown) =>
  Boolean(channels) &&
  typeof channels === 'object' &&
  Object.entries(channels as object).every(
    ([c, e]) =>
      CHANNELS.includes(c as Channel) &&
      e &&
      ['sent', 'engaged', 'failed'].every((k) => isFiniteCount((e as unknown as Record<string, unknown>)[k])) &&
      Number.isSafeInteger((e as ChannelEvidence).at),
  );

/** A document's bands, each checked as the channels are; an unusable band is dropped alone. */
function bandsOf(raw: unknown): BandEvidence {
  if (!raw || typeof raw !== 'object') return {};
  return Object.fromEntries(
    Object.entries(raw as object).filter(([b, e]) => (BANDS as readonly string[]).includes(b) && validCounts(e)),
  ) as BandEvidence;
}

/** The user's evidence document, by the user's key (documents.ts's userKey: one hash serves both). */
const evidenceName = (key: string) => `evidence-${key}`;
/** the key's first 32 bits pick the prior's shard */
const shardOf = (key: string) => Number.parseInt(key.slice(0, 8), 16) % PRIOR_SHARDS;
type Seen = Pick<Observation, 'notificationId' | 'channel' | 'kind'>;
/**
 * What the evidence remembers of an observation, to count it once: 12 characters of a hash of its
 * notification, channel and kind (72 bits), so that the 60 kept take about 900 bytes whatever the
 * notification ids (60 keys in clear with UUID ids took about 3 KB of a 4.5 KB document, and every
 * /notify and /recover reads and writes it). Keys in clear, from documents written before, are
 * still honoured until they age out of the list.
 */
const clearKey = (o: Seen) => `${o.notificationId}|${o.channel}|${o.kind}`;
const seenKey = (o: Seen) => createHash('sha256').update(clearKey(o)).digest('base64url').slice(0, 12);
const wasSeen = (seen: ReadonlySet<string>, o: Seen, key = seenKey(o)) => seen.has(key) || seen.has(clearKey(o));

/** Counts to 4 decimals: what fading leaves (0.5^(t/half-life)) has 16 digits no decision needs. */
const rounded = (x: number) => Math.round(x * 1e4) / 1e4;
function compact(ev: Evidence): Evidence {
  return Object.fromEntries(
    Object.entries(ev).map(([c, e]) => [
      c,
      e && { sent: rounded(e.sent), engaged: rounded(e.engaged), failed: rounded(e.failed), at: e.at },
    ]),
  ) as Evidence;
}

const isFiniteCount = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x < 1e9;

/** A stored document as evidence; anything corrupt, oversized or foreign is empty (and logged). */
export function evidenceOf(data: unknown, userId: string): EvidenceDoc {
  const empty: EvidenceDoc = { v: 1, channels: {}, seen: [] };
  const d = data as Partial<EvidenceDoc> | null;
  const valid =
    d &&
    typeof d === 'object' &&
    d.v === 1 &&
    d.channels &&
    typeof d.channels === 'object' &&
    Array.isArray(d.seen) &&
    d.seen.length <= SEEN_KEPT &&
    validCounts(d.channels);
  if (!valid) {
    if (data !== undefined) log.warn('evidence document unusable, treated as empty', { user: userId });
    return empty;
  }
  const { fit, pending } = userFitOf(d.fit, d.pending);
  const { fit: _fit, ...rest } = d as EvidenceDoc;
  return {
    ...rest,
    bands: bandsOf(d.bands),
    recent: bandsOf(d.recent),
    habit: responsibilitiesOf(d.habit),
    ...(fit ? { fit } : {}),
    pending,
  };
}

/**
 * The user's evidence document as a read saw it (`evidence` undefined: there
 * was none), so that the write after it needs no second read: `/notify`
 * reads it in its first stage and writes in its last.
 */
export interface EvidenceSnapshot {
  evidence: { data: unknown; revision: string } | undefined;
}

/** What routing got from the store: the knowledge, or why there is none (policy trait; the store failed). */
export type KnowledgeRead =
  | { knowledge: Knowledge; evidence: 'ok'; snapshot: EvidenceSnapshot }
  | { knowledge?: undefined; evidence: 'unused'; snapshot?: EvidenceSnapshot }
  | { knowledge?: undefined; evidence: 'unavailable'; snapshot?: undefined };

/**
 * A user's stored evidence with the observations not seen before counted in (pure): what to write
 * (nothing when every observation was seen), the evidence after, and the change the population prior
 * and /insights take, exactly what is stored.
 */
function countObservations(
  data: unknown,
  userId: string,
  observations: Observation[],
  o: { now: number; halfLifeDays: number; habits?: Habits },
) {
  const doc = evidenceOf(data, userId);
  // each once: an open and a click of the same email in one batch are one engagement
  const before: ReadonlySet<string> = new Set(doc.seen);
  const taken = new Set<string>();
  const fresh = observations.filter((x) => {
    const key = seenKey(x);
    return !wasSeen(before, x, key) && !taken.has(key) && taken.add(key);
  });
  let channels = doc.channels;
  let bands = doc.bands ?? {};
  let recent = doc.recent ?? {};
  let scored = { fit: doc.fit, pending: doc.pending ?? [] };
  for (const x of fresh) {
    if (!LEARNER_KINDS.has(x.kind)) continue;
    const kind = x.kind as EvidenceKind;
    channels = observe(channels, x.channel, kind, o.now, o.halfLifeDays);
    // the models' forecasts, scored: a send as not engaged, corrected when its engagement comes
    const sendKey = () => seenKey({ ...x, kind: 'sent' });
    if (kind === 'sent' && x.predicted) scored = scoreSend(scored.fit, scored.pending, sendKey(), x.predicted, o);
    if (kind === 'engaged' && scored.pending.length > 0)
      scored = scoreEngagement(scored.fit, scored.pending, sendKey(), o);
    if (!x.band) continue;
    bands = observeInBand(bands, x.band, x.channel, kind, o.now, o.halfLifeDays);
    recent = observeInBand(recent, x.band, x.channel, kind, o.now, RECENT_HALF_LIFE_DAYS);
  }
  const { fit, pending } = scored;
  // stored as written, so that the prior takes the change of exactly what is stored
  channels = compact(channels);
  const compactBands = (e: BandEvidence) =>
    Object.fromEntries(Object.entries(e).map(([b, x]) => [b, x && compact(x)])) as BandEvidence;
  bands = compactBands(bands);
  recent = compactBands(recent);
  const seen = [...doc.seen, ...taken].slice(-SEEN_KEPT);
  const countsBefore = countsOf(doc.bands ?? {});
  const habitBefore = doc.habit ?? {};
  const habit = o.habits ? kept(o.habits, responsibilities(o.habits, countsBefore)) : habitBefore;
  const write: EvidenceDoc | undefined =
    fresh.length > 0
      ? { v: 1, channels, bands, recent, habit, ...(fit ? { fit } : {}), ...(pending.length ? { pending } : {}), seen }
      : undefined;
  const engagedBefore = (id: string) =>
    CHANNELS.some((channel) => wasSeen(before, { notificationId: id, channel, kind: 'engaged' }));
  const delta: PriorDelta = {
    sums: addSums(sumsDelta(doc.channels, channels), bandSumsDelta(doc.bands ?? {}, bands)),
    tally: tallyOf(fresh, engagedBefore),
    habits: addHabitSums(
      habitSumsDelta({ r: habitBefore, counts: countsBefore }, { r: habit, counts: countsOf(bands) }),
      fitSumsDelta(doc.fit, fit),
    ),
  };
  return { write, result: { after: { channels, bands, recent }, delta } };
}

export class EvidenceStore {
  private readonly prior: PriorStore;

  constructor(
    private readonly documents: Documents,
    private readonly config: Config,
    /** where sums Sync refused to append wait for recovery (a parcel; without it they are logged and lost) */
    private readonly keepDelta?: KeepDelta,
  ) {
    this.prior = new PriorStore(documents);
  }

  async snapshot(userId: string): Promise<EvidenceSnapshot> {
    return { evidence: await fetchDocument(this.documents, evidenceName(userKey(userId))) };
  }

  async read(userId: string): Promise<Evidence> {
    return evidenceOf((await this.snapshot(userId)).evidence?.data, userId).channels;
  }

  /** Appends what `pooled` gathered to the population prior (one item); kept for recovery when Sync refuses. */
  flushPrior(pooled: PooledPrior): Promise<boolean> {
    return pooled.flush(this.prior, this.keepDelta);
  }

  /** Appends deltas kept earlier (recovery), each once, to random shards. */
  async appendPrior(deltas: PriorDelta[]): Promise<void> {
    for (const delta of deltas) await this.prior.add(Math.floor(Math.random() * PRIOR_SHARDS), delta);
  }

  /** The /insights counts, read now (prior.ts keeps them beside the learner's sums). */
  tally(): Promise<TallyRead> {
    return this.prior.tally();
  }

  /** The population prior and the bands' effects (cached per warm container: see prior.ts). */
  population(): Promise<Population> {
    return this.prior.population();
  }

  /**
   * The user's evidence and the population prior, for ROUTING_POLICY=learned, with the snapshot
   * the send's evidence is later written over (under either policy: what was tried is always kept).
   * A store that fails is answered `unavailable` (routing then goes by trait, and says so), never thrown.
   */
  async knowledge(userId: string): Promise<KnowledgeRead> {
    if (this.config.routingPolicy !== 'learned') {
      return { evidence: 'unused', snapshot: await this.snapshot(userId).catch(() => undefined) };
    }
    try {
      const [snapshot, population] = await Promise.all([this.snapshot(userId), this.prior.population()]);
      const doc = evidenceOf(snapshot.evidence?.data, userId);
      const knowledge: Knowledge = { evidence: doc.channels, priors: population.priors };
      if (this.config.timeBands)
        Object.assign(knowledge, {
          bands: doc.bands ?? {},
          recent: doc.recent ?? {},
          effects: population.effects,
          habits: population.habits,
        } satisfies Partial<Knowledge>);
      return { knowledge, evidence: 'ok', snapshot };
    } catch (err) {
      log.warn('evidence unavailable, routing by trait', { error: errorText(err) });
      return { evidence: 'unavailable' };
    }
  }

  /**
   * Counts observations not counted before (per notification, channel and kind) in the user's
   * evidence, written over `snapshot` when the caller read one (else over a read of its own), and
   * adds the change to the population prior at the same time: one round trip after the read. When
   * another writer got to the evidence first, the observations are applied again to what it left
   * and the prior gets the difference, so it always takes exactly the change the evidence took.
   * Answers the user's evidence after it (for `channel_scores`).
   *
   * With `habits` (the population's, as /notify routed by them), the user's band counts are added to
   * the habits' sums again with the responsibilities their evidence before this change gives: the
   * E step of incremental EM, once per notification. Without (webhooks, recovery), a change is
   * added with the responsibilities kept in the document.
   */
  async record(
    userId: string,
    observations: Observation[],
    o: { snapshot?: EvidenceSnapshot; now?: number; pooled?: PooledPrior; habits?: Habits } = {},
  ) {
    const { snapshot, now = currentTime(), pooled, habits } = o;
    const key = userKey(userId);
    const name = evidenceName(key);
    const shard = shardOf(key);
    const change = (data: unknown) =>
      countObservations(data, userId, observations, { now, halfLifeDays: this.config.evidenceHalfLifeDays, habits });
    const { evidence } = snapshot ?? { evidence: await fetchDocument(this.documents, name) };
    const first = change(evidence?.data);
    const data = first.write;
    if (!data) return first.result.after;
    const expiry = { ttl: EVIDENCE_TTL_S, keepAlive: true };
    // written over the snapshot; when another writer got there first, applied again to what it left
    const write = () =>
      writeDocument(this.documents, name, data, evidence?.revision, expiry).then(
        () => first.result,
        (err) => (isConflict(err) ? readModifyWrite(this.documents, name, change, expiry) : Promise.reject(err)),
      );
    if (pooled) {
      // the prior gets exactly what the evidence took, appended with the invocation's other users' changes
      const taken = await write();
      pooled.add(taken.delta);
      return taken.after;
    }
    const [own, pooledNow] = await Promise.allSettled([write(), this.prior.add(shard, first.result.delta)]);
    const added: PriorDelta = pooledNow.status === 'fulfilled' ? first.result.delta : { sums: {} };
    if (own.status === 'rejected') {
      // not counted: take back what the prior got, so that the sender's retry counts it once
      const back = subtractDelta({ sums: {} }, added);
      await this.prior.add(shard, back).catch((err) => keepOrLog(back, err, this.keepDelta));
      throw own.reason;
    }
    const taken = own.value;
    const rest = subtractDelta(taken.delta, added);
    // the user's evidence is right; what the prior (and /insights) still miss is kept for recovery
    await this.prior.add(shard, rest).catch((err) => keepOrLog(rest, err, this.keepDelta));
    return taken.after;
  }
}
