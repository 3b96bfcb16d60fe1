/**
 * Webhook batches at campaign scale. SendGrid posts its Event Webhook as one
 * JSON array per 30 s or 768 KB: after a 900-recipient campaign, one POST of
 * 2,700 events. Each notification costs a record read-modify-write and each
 * engaged user an evidence read-modify-write (4 Sync requests), at ~50 ms a
 * request and at most the invocation's upstream budget in flight: a couple of
 * thousand notifications do not fit in one invocation's 10 s.
 *
 * So a batch over CHUNK_NOTIFICATIONS notifications is worked through in
 * chunks (a few at once, all within the invocation's upstream budget):
 *
 * - a chunk applies its records and delivers its Segment events; what it
 *   tells the learner (each user's observations, attributed as the records
 *   say) is kept in an `evidence` parcel, which the `/recover` started at the
 *   end counts in the users' evidence, with the identifies of what was
 *   learned and the prior's sums, seconds later. Counting it here would take
 *   an evidence read-modify-write per engaged user in this invocation: twice
 *   its Sync requests, its time and its CPU (900 users: answered in 5.3 s with
 *   1.2-1.5 s of CPU, against 3 s and 0.66-0.81 s; the work is the same in
 *   all, npm run bench:scale), and a deadline that fits half the users;
 * - a chunk is started only while the deadline leaves room for it (measured
 *   on the chunks done so far) and for keeping what is left;
 * - a chunk whose Segment delivery fails keeps its messages in a `track`
 *   parcel; one that fails otherwise, or was never started, keeps its events
 *   in a `work` parcel (store/parcels.ts): compressed Sync documents listed
 *   in the outbox, which recovery completes. A `/recover` is started at once
 *   (it chains while work remains), so "later" is seconds, not the next sweep;
 * - the prior's deltas of the whole batch go out as one append per shard;
 * - the batch's ledger (store/ledger.ts) records the chunks done, so a
 *   redelivery is answered from one read.
 *
 * The batch is answered 2xx once everything is applied or kept; only when
 * even keeping failed (Sync down) is it 503, and the redelivery redoes only
 * the chunks the ledger does not list.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createHash } from 'node:crypto';
import type { ProviderEvent } from '../../channels/provider';
import type { Deps } from '../deps';
import { workWithin } from '../../deadline';
import { DomainError } from '../../errors';
import { errorText, log } from '../../log';
import type { Learning } from '../../store/evidence';
import type { Parcel } from '../../store/parcels';
import { PooledPrior } from '../../store/prior';
import {
  attributeForLater,
  chunkStages,
  countNow,
  handleProviderEvents,
  RecordsNotUpdated,
  Undelivered,
} from './pipeline';

/** notifications per chunk (and per work parcel: recovery completes one in about a second) */
export const CHUNK_NOTIFICATIONS = 100;
/** chunks worked at once (their requests share the invocation's upstream budget) */
const PARALLEL_CHUNKS = 3;
/** what the deadline must still hold after the last chunk: keeping the rest, the prior, the ledger */
const RESERVE_MS = 2500;
/** a first guess of a chunk's time, before one was measured */
const FIRST_CHUNK_MS = 1500;

export interface BatchOutcome {
  tracked: number;
  /** events naming another user than their notification's record: skipped */
  mismatched: number;
  notifications: number;
  /** chunks applied now, and kept for recovery (parcels) */
  chunks?: { total: number; applied: number; kept: number };
  /** a redelivery of a batch already handled */
  duplicate?: true;
}

/** A batch's identity: the same events, in any order, are the same batch. */
export function batchKeyOf(events: ProviderEvent[]): string {
  const ids = events.map((e) => e.eventId).sort();
  return createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 32);
}

/** Events of each chunk: whole notifications, in a stable order (a redelivery chunks the same way). */
export function chunksOf(events: ProviderEvent[], size = CHUNK_NOTIFICATIONS): ProviderEvent[][] {
  const byNotification = new Map<string, ProviderEvent[]>();
  const unattributed: ProviderEvent[] = [];
  for (const e of events) {
    if (!e.notificationId) unattributed.push(e);
    else byNotification.set(e.notificationId, [...(byNotification.get(e.notificationId) ?? []), e]);
  }
  const ids = [...byNotification.keys()].sort();
  const chunks: ProviderEvent[][] = [];
  for (let i = 0; i < ids.length; i += size)
    chunks.push(ids.slice(i, i + size).flatMap((id) => byNotification.get(id) ?? []));
  if (unattributed.length) {
    if (chunks.length === 0) chunks.push([]);
    chunks[0].push(...unattributed);
  }
  return chunks;
}

type ChunkResult = 'applied' | 'kept' | 'failed';

type Applied = { tracked: number; mismatched: number; learning: Learning[] };

/**
 * Applies one chunk (records, Segment, and the users' evidence unless `learnLater`: then its
 * observations are answered, for an `evidence` parcel), or answers what is left to keep: the
 * Segment messages when only Segment failed (with the observations), else the chunk's events, to
 * redo (every step is idempotent).
 */
export async function applyChunk(
  deps: Deps,
  events: ProviderEvent[],
  pooled: PooledPrior,
  learnLater = false,
): Promise<(Applied & { left?: undefined }) | { left: Parcel; learning: Learning[]; error: Error }> {
  try {
    const learn = learnLater ? attributeForLater : countNow(deps, pooled);
    return await handleProviderEvents(deps, events, { retries: true }, chunkStages(pooled, learn));
  } catch (err) {
    if (err instanceof Undelivered)
      return { left: { kind: 'track', messages: err.messages }, learning: err.learning, error: err };
    // the rest of the chunk is applied and told: only the notifications whose records failed are left
    if (err instanceof RecordsNotUpdated) {
      const left = new Set(err.notificationIds);
      const rest = events.filter((e) => e.notificationId !== undefined && left.has(e.notificationId));
      return { left: { kind: 'work', events: rest }, learning: err.learning, error: err };
    }
    return { left: { kind: 'work', events }, learning: [], error: err as Error };
  }
}

/** Applies one chunk; what is left is kept in a parcel under `key`. */
async function applyOrKeep(
  deps: Deps,
  events: ProviderEvent[],
  key: string,
  pooled: PooledPrior,
): Promise<{ result: ChunkResult; tracked: number; mismatched?: number; learning: Learning[] }> {
  const outcome = await applyChunk(deps, events, pooled, true);
  const { learning } = outcome;
  if (!outcome.left) return { result: 'applied', tracked: outcome.tracked, mismatched: outcome.mismatched, learning };
  log.warn('batch chunk kept for recovery', { key, kept: outcome.left.kind, error: errorText(outcome.error) });
  return { ...(await keepParcel(deps, key, outcome.left)), learning };
}

export async function keepParcel(
  deps: Deps,
  key: string,
  parcel: Parcel,
): Promise<{ result: ChunkResult; tracked: 0 }> {
  try {
    await deps.parcels.keep(key, parcel);
    return { result: 'kept', tracked: 0 };
  } catch (err) {
    log.error('batch chunk could not be kept', { key, error: errorText(err) });
    return { result: 'failed', tracked: 0 };
  }
}

/** Each applied chunk's result and what it told the learner, and the counts over them. */
function tallied(applied: Map<number, Awaited<ReturnType<typeof applyOrKeep>>>, todo: number[]) {
  const results = new Map<number, ChunkResult>();
  const learning = new Map<number, Learning[]>();
  let [tracked, mismatched] = [0, 0];
  for (const [j, outcome] of applied) {
    results.set(todo[j], outcome.result);
    if (outcome.result !== 'failed' && outcome.learning.length) learning.set(todo[j], outcome.learning);
    tracked += outcome.tracked;
    mismatched += outcome.mismatched ?? 0;
  }
  return { results, learning, tracked, mismatched };
}

/**
 * What the applied chunks tell the learner, kept for recovery to count. A chunk whose observations
 * could not be kept is not done: the redelivery applies it again.
 */
async function keepLearning(
  deps: Deps,
  key: string,
  learning: Map<number, Learning[]>,
  results: Map<number, ChunkResult>,
): Promise<boolean> {
  const parcels = [...learning].map(([i, l]): [string, Parcel] => [`${key}-${i}`, { kind: 'evidence', learning: l }]);
  return deps.parcels.keepAll(parcels).then(
    () => true,
    (err) => {
      log.error("batch's evidence could not be kept", { error: errorText(err) });
      for (const i of learning.keys()) results.set(i, 'failed');
      return false;
    },
  );
}

/** Handles a webhook batch of any size (see the module comment); small ones as one piece, as before. */
export async function handleBatch(deps: Deps, events: ProviderEvent[]): Promise<BatchOutcome> {
  const chunks = chunksOf(events);
  const notifications = new Set(events.map((e) => e.notificationId).filter(Boolean)).size;
  if (chunks.length <= 1) {
    return { ...(await handleProviderEvents(deps, events)), notifications };
  }
  const key = batchKeyOf(events);
  const ledger = await deps.ledger.read(key).catch((err) => {
    log.warn('batch ledger unreadable: the whole batch is handled', { error: errorText(err) });
    return undefined;
  });
  const done = new Set(ledger?.chunks === chunks.length ? ledger.done : []);
  if (done.size === chunks.length) return { tracked: 0, mismatched: 0, notifications, duplicate: true };

  const pooled = new PooledPrior();
  const todo = chunks.map((_, i) => i).filter((i) => !done.has(i));
  const applied = await workWithin(
    deps.deadline,
    todo,
    { parallel: PARALLEL_CHUNKS, reserveMs: RESERVE_MS, firstGuessMs: FIRST_CHUNK_MS },
    (i) => applyOrKeep(deps, chunks[i], `${key}-${i}`, pooled),
  );
  const { results, learning, tracked, mismatched } = tallied(applied, todo);
  // chunks the deadline left: kept whole, for recovery
  const left = todo.filter((i) => !results.has(i));
  const kept = await Promise.all(left.map((i) => keepParcel(deps, `${key}-${i}`, { kind: 'work', events: chunks[i] })));
  for (const [j, i] of left.entries()) results.set(i, kept[j].result);
  const learned = await keepLearning(deps, key, learning, results);
  await deps.evidence.flushPrior(pooled);

  for (const [i, r] of results) if (r !== 'failed') done.add(i);
  await deps.ledger
    .write(key, { chunks: chunks.length, done: [...done], revision: ledger?.revision })
    .catch((err) => log.warn('batch ledger not written', { error: errorText(err) }));
  const count = (r: ChunkResult) => [...results.values()].filter((x) => x === r).length;
  const summary = { total: chunks.length, applied: count('applied'), kept: count('kept') };
  log.info('batch handled', { notifications, ...summary, failed: count('failed') || undefined });
  if (summary.kept > 0 || (learned && learning.size > 0)) await startRecovery(deps);
  if (count('failed') > 0) {
    throw new DomainError('state_unavailable', 'part of the batch could not be applied or kept; retry later');
  }
  return { tracked, mismatched, notifications, chunks: summary };
}

/**
 * Starts a `/recover` invocation now, so kept work is completed within seconds rather than at the
 * next sweep. Waits only until the request is sent (a function's work ends with its answer); the
 * sweeps every warm function makes, and a scheduled POST /recover, remain the guarantee.
 */
export function startRecovery(deps: Pick<Deps, 'baseUrl' | 'config'>, waitMs = 500): Promise<void> {
  const key = deps.config.notifyApiKey;
  if (!key) return Promise.resolve();
  const url = new URL('/recover', deps.baseUrl);
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'Content-Length': '2' },
    });
    req.on('response', (res) => res.resume());
    req.on('error', (err) => {
      log.warn('recovery not started', { error: errorText(err) });
      clearTimeout(timer);
      resolve();
    });
    req.end('{}', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
