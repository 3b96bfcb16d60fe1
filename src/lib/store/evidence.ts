/**
 * What the learning router knows, in Twilio Sync:
 *
 * - one small document per user (`evidence-<hash of the user id>`): faded
 *   counts per channel, and the observations already counted (notification,
 *   channel, kind), so a redelivered webhook or a racing duplicate counts once;
 *   written with If-Match, so concurrent webhooks lose no update;
 * - PRIOR_SHARDS documents (`prior-<k>`) of population sums, a user's changes
 *   going to the shard of its hash: 200 events/s across the account is about
 *   6 writes/s per shard, under Sync's 20 per object, and each stays < 1 KiB.
 *
 * The population prior is read from every shard at most every PRIOR_TTL_MS
 * per warm container, concurrently with the request's own first stage.
 */
import { createHash } from 'node:crypto';
import type { Twilio } from 'twilio';
import { type Channel, CHANNELS } from '../channels/channel';
import type { Config } from '../config';
import { log } from '../log';
import {
  addSums,
  type ChannelEvidence,
  type Evidence,
  type EvidenceKind,
  type Knowledge,
  observe,
  type PopulationSums,
  type Priors,
  priorsOf,
  sumsDelta,
} from '../routing/learn';
import { type Documents, fetchDocument, readModifyWrite } from './documents';

export const PRIOR_SHARDS = 32;
const PRIOR_TTL_MS = 60_000;
/** Sync allows a TTL of at most a year; evidence older than that has faded anyway */
const EVIDENCE_TTL_S = 365 * 24 * 3600;
/** observations remembered per user for deduplication (a notification has at most 3 channels × 3 kinds) */
const SEEN_KEPT = 60;

export interface Observation {
  notificationId: string;
  channel: Channel;
  kind: EvidenceKind;
}

interface EvidenceDoc {
  v: 1;
  channels: Evidence;
  seen: string[];
}

const hashOf = (userId: string) => createHash('sha256').update(userId).digest();
const evidenceName = (userId: string) => `evidence-${hashOf(userId).toString('hex').slice(0, 40)}`;
const shardOf = (userId: string) => hashOf(userId).readUInt32BE(0) % PRIOR_SHARDS;
const priorName = (shard: number) => `prior-${shard}`;
const seenKey = (o: Observation) => `${o.notificationId}|${o.channel}|${o.kind}`;

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
    Object.entries(d.channels).every(
      ([c, e]) =>
        CHANNELS.includes(c as Channel) &&
        e &&
        ['sent', 'engaged', 'failed'].every((k) => isFiniteCount((e as unknown as Record<string, unknown>)[k])) &&
        Number.isSafeInteger((e as ChannelEvidence).at),
    );
  if (!valid) {
    if (data !== undefined) log.warn('evidence document unusable, treated as empty', { user: userId });
    return empty;
  }
  return d as EvidenceDoc;
}

let priorCache: { priors: Priors; at: number } | undefined;

/** What routing got from the store: the knowledge, or why there is none (policy trait; the store failed). */
export type KnowledgeRead =
  | { knowledge: Knowledge; evidence: 'ok' }
  | { knowledge?: undefined; evidence: 'unavailable' | 'unused' };

export class EvidenceStore {
  private readonly documents: Documents;

  constructor(
    client: Twilio,
    private readonly config: Config,
  ) {
    this.documents = client.sync.v1.services(config.syncServiceSid).documents;
  }

  async read(userId: string): Promise<Evidence> {
    return evidenceOf((await fetchDocument(this.documents, evidenceName(userId)))?.data, userId).channels;
  }

  /**
   * The user's evidence and the population prior, for ROUTING_POLICY=learned. A store that fails
   * is answered `unavailable` (routing then goes by trait, and says so), never thrown.
   */
  async knowledge(userId: string): Promise<KnowledgeRead> {
    if (this.config.routingPolicy !== 'learned') return { evidence: 'unused' };
    try {
      const [evidence, priors] = await Promise.all([this.read(userId), this.priors()]);
      return { knowledge: { evidence, priors }, evidence: 'ok' };
    } catch (err) {
      log.warn('evidence unavailable, routing by trait', { error: (err as Error).message });
      return { evidence: 'unavailable' };
    }
  }

  /**
   * The population prior: from this container's cache when fresh, else read
   * from every shard (in parallel). Without any it is the uninformed prior.
   */
  async priors(now = Date.now()): Promise<Priors> {
    if (priorCache && now - priorCache.at < PRIOR_TTL_MS) return priorCache.priors;
    const shards = await Promise.all(
      Array.from({ length: PRIOR_SHARDS }, (_, k) =>
        fetchDocument(this.documents, priorName(k)).catch(() => undefined),
      ),
    );
    let sums: PopulationSums = {};
    for (const s of shards) if (s?.data && typeof s.data === 'object') sums = addSums(sums, s.data as PopulationSums);
    priorCache = { priors: priorsOf(sums), at: now };
    return priorCache.priors;
  }

  /**
   * Counts observations not counted before (per notification, channel and
   * kind), then adds the change to the user's prior shard. Answers the user's
   * evidence after it (for `channel_scores`).
   */
  async record(userId: string, observations: Observation[], now = Date.now()): Promise<Evidence> {
    const { before, after } = await readModifyWrite(
      this.documents,
      evidenceName(userId),
      (data) => {
        const doc = evidenceOf(data, userId);
        const fresh = observations.filter((o) => !doc.seen.includes(seenKey(o)));
        if (fresh.length === 0) return { result: { before: doc.channels, after: doc.channels } };
        let channels = doc.channels;
        for (const o of fresh) channels = observe(channels, o.channel, o.kind, now, this.config.evidenceHalfLifeDays);
        const seen = [...doc.seen, ...fresh.map(seenKey)].slice(-SEEN_KEPT);
        const write: EvidenceDoc = { v: 1, channels, seen };
        return { write, result: { before: doc.channels, after: channels } };
      },
      { ttl: EVIDENCE_TTL_S, keepAlive: true },
    );
    const delta = sumsDelta(before, after);
    if (Object.keys(delta).length > 0) {
      await readModifyWrite(this.documents, priorName(shardOf(userId)), (data) => ({
        write: roundSums(addSums((data as PopulationSums | undefined) ?? {}, delta)),
        result: undefined,
      }));
    }
    return after;
  }
}

/** Three significant decimals: a shard stays well under 1 KiB (Sync throttles larger objects harder). */
function roundSums(sums: PopulationSums): PopulationSums {
  const r = (x: number) => Math.round(x * 1000) / 1000;
  const out: PopulationSums = {};
  for (const [c, s] of Object.entries(sums) as Array<[Channel, NonNullable<PopulationSums[Channel]>]>) {
    out[c] = { users: r(s.users), n: r(s.n), k: r(s.k), nn: r(s.nn), kk: r(s.kk) };
  }
  return out;
}
