/**
 * Recovery: completes the work that failed during an outage and was kept
 * (Segment events in a record, provider cancels with a deadline, evidence the
 * learner's store refused), without
 * relying on any sender to retry. Traffic drives it: every function sweeps
 * one outbox shard at most every RECOVERY_SWEEP_SECONDS per warm container,
 * concurrently with its own work; with no traffic, POST /recover sweeps all.
 */
import { currentTime } from '../clock';
import type { CancelResult } from '../channels/provider';
import { track } from '../clients/segment';
import type { SegmentMessage } from '../segment-messages';
import { type Deps, wire } from './deps';
import { workWithin } from '../deadline';
import { messageId, trackMessage } from '../segment-messages';
import type { EndpointRequest, Reply } from '../http/endpoint';
import { badRequest } from '../http/errors';
import { stringParam } from '../http/params';
import { cancelCopy, resumeEscalations, scheduleKeptSteps } from './journey/progress';
import { errorText, log } from '../log';
import { OUTBOX_SHARDS } from '../store/outbox';
import { PARCEL_ENTRY, type Parcel } from '../store/parcels';
import { PooledPrior } from '../store/prior';
import { applyChunk, keepParcel, startRecovery } from './webhooks/batches';
import { countLearning, settleLimited } from './webhooks/pipeline';
import type { Learning, Observation } from '../store/evidence';
import { groupPropsOf, type NotificationRecord, type PendingCancel } from '../store/records';

/** notifications one sweep of a shard works through at most */
const MAX_PER_SHARD = 25;
/** what a sweep needs left of its deadline to start on a notification, and on a parcel (100 of them) */
const ITEM_MS = 2500;
const PARCEL_MS = 5000;
/** parcels /recover works on at once */
const PARALLEL_PARCELS = 3;

export interface SweepReport {
  notifications: number;
  delivered: number;
  canceled: number;
  cancelFailed: number;
  /** notifications whose kept evidence the learner counted, and users of large batches whose observations it counted */
  learned: number;
  /** notifications whose abandoned escalation recovery sent (its invocation failed after claiming it) */
  escalated: number;
  /** later steps recovery handed to their provider, which /notify could not schedule during an outage */
  scheduled: number;
  /** notifications still holding work in the shards swept */
  remaining: number;
  /** shards the deadline left unswept: call /recover again */
  unswept: number;
  /** parcels of large batches completed (store/parcels.ts) */
  parcels: number;
  /** parcels given up on in this run: dead letters (store/dead-letters.ts) */
  deadLettered: number;
}

const empty = (): SweepReport => ({
  notifications: 0,
  delivered: 0,
  canceled: 0,
  cancelFailed: 0,
  learned: 0,
  escalated: 0,
  scheduled: 0,
  remaining: 0,
  unswept: 0,
  parcels: 0,
  deadLettered: 0,
});

/** A cancel that cannot happen before the send time is reported, never silently lost. */
function cancelFailedEvent(r: NotificationRecord, c: PendingCancel): SegmentMessage {
  const id = r.notificationId;
  return trackMessage({ userId: r.userId }, 'Notification Cancel Failed', messageId('cancel-failed', id, c.channel), {
    notification_id: id,
    channel: c.channel,
    provider_id: c.providerId,
    send_at: c.scheduledAt,
    ...groupPropsOf(r),
  });
}

/**
 * What a retried cancel of a kept copy settles: done (canceled, or nothing left to cancel), too late
 * (the provider sent it, or it failed again at or after the send time: report it), or keep trying.
 */
export function keptCancelOutcome(
  result: CancelResult | undefined | 'failed',
  scheduledAt: string,
  now = currentTime(),
): 'canceled' | 'too_late' | 'keep' {
  if (result === 'canceled' || result === undefined) return 'canceled';
  if (result === 'too_late' || now >= Date.parse(scheduledAt)) return 'too_late';
  return 'keep';
}

/**
 * The parcels of every shard (a large batch's chunks: about 100 notifications each), a few at once
 * within the deadline (they share the invocation's upstream budget, and overlap each other's waits).
 */
async function completeParcels(deps: Deps, report: SweepReport): Promise<void> {
  const shards = Array.from({ length: OUTBOX_SHARDS }, (_, k) => k);
  const listed = await Promise.all(shards.map((k) => deps.store.outbox.list(k).catch(() => [] as string[])));
  const parcels = listed.flatMap((ids, shard) =>
    ids.filter((id) => id.startsWith(PARCEL_ENTRY)).map((id) => ({ shard, id })),
  );
  const done = await workWithin(
    deps.deadline,
    parcels,
    { parallel: PARALLEL_PARCELS, reserveMs: 1500, firstGuessMs: PARCEL_MS - 1500 },
    ({ id }) =>
      completeParcel(deps, id.slice(PARCEL_ENTRY.length), report).catch((err) => {
        log.warn('recovery: parcel not completed', { item: id, error: errorText(err) });
        return false;
      }),
  );
  const finished = parcels.filter((_, i) => done.get(i));
  await Promise.all(
    shards.map((k) =>
      deps.store.outbox
        .remove(
          k,
          finished.filter((p) => p.shard === k).map((p) => p.id),
        )
        .catch((err) => log.warn('recovery: outbox not updated', { shard: k, error: errorText(err) })),
    ),
  );
  report.remaining += parcels.length - finished.length;
}

/**
 * Works through one shard: retries each kept cancel, delivers kept events, completes parcels (unless
 * told not to: /recover does them first, all shards at once), and unlists what is done.
 */
export async function sweepShard(
  deps: Deps,
  shard: number,
  report = empty(),
  opts: { parcels: boolean } = { parcels: true },
): Promise<SweepReport> {
  const all = await deps.store.outbox.list(shard);
  const ids = opts.parcels ? all : all.filter((id) => !id.startsWith(PARCEL_ENTRY));
  const finished: string[] = [];
  for (const id of ids.slice(0, MAX_PER_SHARD)) {
    const parcel = id.startsWith(PARCEL_ENTRY);
    if (!deps.deadline.allows(0, parcel ? PARCEL_MS : ITEM_MS)) break;
    try {
      if (parcel ? await completeParcel(deps, id.slice(PARCEL_ENTRY.length), report) : await complete(deps, id, report))
        finished.push(id);
    } catch (err) {
      // one item failing (Sync or a provider still down) never stops the sweep of the others
      log.warn('recovery: item not completed', { item: id, error: errorText(err) });
    }
  }
  await deps.store.outbox.remove(shard, finished);
  report.remaining += ids.length - finished.length;
  return report;
}

/** Completes one notification's kept work; answers whether nothing is left of it. */
async function complete(deps: Deps, id: string, report: SweepReport): Promise<boolean> {
  const found = await deps.store.readNotification(id);
  if (!found) return true;
  const r = found.record;
  report.notifications++;
  const resolved: PendingCancel[] = [];
  const tooLate: PendingCancel[] = [];
  for (const c of r.pendingCancels ?? []) {
    const result = await cancelCopy(deps, c).catch(() => 'failed' as const);
    const outcome = keptCancelOutcome(result, c.scheduledAt);
    if (outcome === 'keep') continue;
    resolved.push(c);
    if (outcome === 'canceled') report.canceled++;
    else {
      tooLate.push(c);
      report.cancelFailed++;
    }
  }
  const learned = await countKeptEvidence(deps, r);
  if (learned.length) report.learned++;
  const escalations = await resumeEscalations(deps, r).catch((err) => {
    log.warn('recovery: escalation not sent yet', { notification: id, error: errorText(err) });
    return { events: [], waiting: true };
  });
  if (escalations.events.length) report.escalated++;
  const kept = await scheduleKeptSteps(deps, r).catch((err) => {
    log.warn('recovery: kept step not scheduled yet', { notification: id, error: errorText(err) });
    return { scheduled: 0, waiting: true };
  });
  report.scheduled += kept.scheduled;
  const events = [...(r.deferredEvents ?? []), ...tooLate.map((c) => cancelFailedEvent(r, c))];
  try {
    await track(deps.config, [...events, ...escalations.events], deps.upstream);
  } catch (err) {
    log.warn('recovery: Segment still unavailable', { notification: id, error: errorText(err) });
    // the escalation happened: its events wait in the record like any others
    if (escalations.events.length) await deps.store.deferEvents(id, escalations.events);
    return false;
  }
  report.delivered += events.length;
  const sent = new Set(events.map((e) => e.messageId));
  const { record } = await deps.store.updateNotification(id, (x) => {
    if (sent.size === 0 && resolved.length === 0 && learned.length === 0) return false; // still failing: nothing to write
    x.pendingEvidence = (x.pendingEvidence ?? []).filter(
      (o) => !learned.some((l) => l.channel === o.channel && l.kind === o.kind),
    );
    x.deferredEvents = (x.deferredEvents ?? []).filter((e) => !sent.has(e.messageId));
    x.pendingCancels = (x.pendingCancels ?? []).filter((c) => !resolved.some((d) => d.channel === c.channel));
    for (const c of tooLate) {
      const step = x.steps.find((s) => s.channel === c.channel);
      if (step) step.error = 'the scheduled copy could not be cancelled before its send time';
    }
    return true;
  });
  return (
    !escalations.waiting &&
    !kept.waiting &&
    !record?.deferredEvents?.length &&
    !record?.pendingCancels?.length &&
    !record?.pendingEvidence?.length
  );
}

/**
 * Completes a parcel that is due: delivers a `track` parcel's messages, appends a `prior` parcel's
 * sums, counts an `evidence` parcel, or applies a `work` parcel's events (the notifications whose
 * records still fail are kept again). Answers whether it is off the outbox: done, or given up on
 * after MAX_PARCEL_TRIES attempts (a dead letter, listed for an operator).
 */
async function completeParcel(deps: Deps, name: string, report: SweepReport): Promise<boolean> {
  const entry = await deps.parcels.readEntry(name);
  if (!entry) return true; // gone (completed by another run, or dropped)
  if (entry.retryAt !== undefined && entry.retryAt > currentTime()) return false; // not due yet
  const failure = await attemptParcel(deps, name, entry.parcel, report);
  if (failure === undefined) {
    report.parcels++;
    await deps.parcels.remove(name);
    return true;
  }
  log.warn('recovery: parcel not completed', { parcel: name, tries: entry.tries + 1, error: failure });
  if (!(await deps.parcels.failed(name, failure))) return false;
  log.error('recovery: parcel given up on: a dead letter (npm run dead-letters)', { parcel: name, error: failure });
  report.deadLettered++;
  return true;
}

/** One attempt at a parcel: undefined when it is done, else why not. */
async function attemptParcel(
  deps: Deps,
  name: string,
  parcel: Parcel,
  report: SweepReport,
): Promise<string | undefined> {
  if (parcel.kind === 'track') {
    try {
      await track(deps.config, parcel.messages, deps.upstream);
    } catch (err) {
      return `Segment: ${errorText(err)}`;
    }
    report.delivered += parcel.messages.length;
  } else if (parcel.kind === 'prior') {
    // sums (and /insights counts) Sync refused earlier: appended now, once (the parcel goes when done)
    try {
      await deps.evidence.appendPrior(parcel.deltas);
    } catch (err) {
      return `prior: ${errorText(err)}`;
    }
  } else if (parcel.kind === 'evidence') {
    const failure = await countLearningOf(deps, parcel.learning);
    if (failure) return failure;
    report.learned += parcel.learning.length;
  } else {
    const pooled = new PooledPrior();
    const outcome = await applyChunk(deps, parcel.events, pooled);
    await deps.evidence.flushPrior(pooled);
    if (outcome.left && outcome.left.kind === 'work') {
      // what was applied is done and told; the rest (its records still failing) is kept again,
      // as this parcel, so that its tries count on
      if (outcome.left.events.length < parcel.events.length) await deps.parcels.replace(name, outcome.left);
      return `records: ${errorText(outcome.error)}`;
    }
    // applied; if only Segment failed, its messages wait in a parcel of their own
    if (outcome.left && (await keepParcel(deps, name, outcome.left)).result === 'failed') return 'not kept';
  }
  return undefined;
}

/**
 * Counts a large batch's observations in the users' evidence (each once: the evidence remembers what
 * it counted), appends the prior's change, and delivers the identifies of what was learned. Answers
 * whether all of it is done; when not, the parcel stays and the next run does it again, which counts
 * nothing twice and sends the same identifies (the same messageIds).
 */
async function countLearningOf(deps: Deps, learning: Learning[]): Promise<string | undefined> {
  const pooled = new PooledPrior();
  const counted = await settleLimited(learning, deps.upstream.concurrency, (u) => countLearning(deps, u, pooled));
  await deps.evidence.flushPrior(pooled);
  const failed = counted.filter((c): c is PromiseRejectedResult => c.status === 'rejected');
  if (failed.length) {
    return `evidence of ${failed.length} users: ${errorText(failed[0].reason)}`;
  }
  const identifies = counted.flatMap((c) => (c.status === 'fulfilled' && c.value ? [c.value.message] : []));
  try {
    await track(deps.config, identifies, deps.upstream);
  } catch (err) {
    return `Segment: ${errorText(err)}`;
  }
  return undefined;
}

/** Counts a record's kept evidence (the store dedupes it); answers what was counted, nothing while the store fails. */
async function countKeptEvidence(deps: Deps, r: NotificationRecord): Promise<Observation[]> {
  const kept = r.pendingEvidence ?? [];
  if (kept.length === 0) return [];
  try {
    await deps.evidence.record(r.userId, kept);
    return kept;
  } catch (err) {
    log.warn('recovery: evidence store still unavailable', {
      notification: r.notificationId,
      error: errorText(err),
    });
    return [];
  }
}

let nextSweepAt = 0;
let nextShard = 0;

/**
 * Wraps a function's work so that a warm container sweeps one shard every
 * RECOVERY_SWEEP_SECONDS, concurrently with the request (no added round trip
 * when the request takes longer); a failed sweep never fails the request.
 */
export function withRecovery(run: (req: EndpointRequest) => Promise<Reply>) {
  return async (req: EndpointRequest): Promise<Reply> => {
    const interval = req.config.recoverySweepSeconds * 1000;
    if (interval === 0 || Date.now() < nextSweepAt) return run(req);
    nextSweepAt = Date.now() + interval;
    const shard = nextShard++ % OUTBOX_SHARDS;
    const sweep = sweepShard(wire(req), shard).catch((err) =>
      log.warn('recovery sweep failed', { shard, error: errorText(err) }),
    );
    const [reply] = await Promise.all([run(req), sweep]);
    return reply;
  };
}

/**
 * POST /recover with `deadLetters=list|retry|drop` (and `parcel`: one; else all): what an operator
 * does with the parcels recovery gave up on. Retried ones are listed again and retried at once.
 */
async function deadLetters(req: EndpointRequest, deps: Deps, action: string): Promise<Reply> {
  const one = stringParam(req.params, 'parcel', { max: 200, pattern: /^parcel-[\w.:@-]+$/ });
  const listed = await deps.parcels.deadLetters.list();
  if (one && !listed.some((l) => l.parcel === one))
    throw badRequest('parcel', `${one} is not a dead letter (npm run dead-letters lists them)`);
  const chosen = one ? [one] : listed.map((l) => l.parcel);
  if (action === 'list') return { status: 200, json: { deadLetters: listed } };
  for (const name of chosen) await (action === 'retry' ? deps.parcels.revive(name) : deps.parcels.drop(name));
  log.info(`dead letters ${action === 'retry' ? 'retried' : 'dropped'}`, { parcels: chosen.length });
  const report = action === 'retry' && chosen.length ? await recoverAll(deps) : undefined;
  return {
    status: 200,
    json: {
      [action === 'retry' ? 'retried' : 'dropped']: chosen,
      deadLetters: await deps.parcels.deadLetters.list(),
      report,
    },
  };
}

/** POST /recover: sweeps every shard (for an operator or a scheduled Studio flow when there is no traffic). */
export async function recover(req: EndpointRequest): Promise<Reply> {
  const deps = wire(req);
  const action = stringParam(req.params, 'deadLetters', { max: 8 });
  if (action !== undefined) {
    if (!['list', 'retry', 'drop'].includes(action))
      throw badRequest('deadLetters', 'deadLetters must be list, retry or drop');
    return deadLetters(req, deps, action);
  }
  return { status: 200, json: await recoverAll(deps) };
}

async function recoverAll(deps: Deps): Promise<SweepReport> {
  const report = empty();
  await completeParcels(deps, report);
  for (let shard = 0; shard < OUTBOX_SHARDS; shard++) {
    if (!deps.deadline.allows(0, ITEM_MS)) {
      report.unswept = OUTBOX_SHARDS - shard;
      break;
    }
    await sweepShard(deps, shard, report, { parcels: false }).catch((err) => {
      log.warn('recovery: shard not swept', { shard, error: errorText(err) });
      report.unswept++;
    });
  }
  // parcels take a second each: while work remains and this run made progress, another run goes on
  if ((report.remaining > 0 || report.unswept > 0) && report.parcels > 0) await startRecovery(deps);
  return report;
}
