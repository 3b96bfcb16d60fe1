/**
 * Every webhook ends here: provider events (already typed by their channel
 * module) → a pure translation to step updates and Segment events → the
 * records (with the journey rules) → Segment, in one batch.
 */
import { currentTime } from '../../clock';
import { type Channel, CHANNELS } from '../../channel-list';
import type { ProviderEvent, ProviderEventKind } from '../../channels/provider';
import { track } from '../../clients/segment';
import type { SegmentMessage } from '../../segment-messages';
import type { Deps } from '../deps';
import { DomainError } from '../../errors';
import {
  ENGAGED_EVENT,
  type Engagement,
  engagedMessage,
  identifyMessage,
  messageId,
  trackMessage,
} from '../../segment-messages';
import { type Applied, applyUpdates, KeptForRecovery, type StepUpdate } from '../journey/progress';
import type { StepStatus } from '../../journey/steps';
import { errorText, log } from '../../log';
import { type Band, BANDS, bandPosteriors } from '../../routing/bands';
import { bestChannel, posteriors, scoresOf } from '../../routing/learn';
import type { EvidenceSnapshot, Learning, Observation } from '../../store/evidence';
import { countedAs, groupPropsOf, type NotificationRecord } from '../../store/records';
import { PooledPrior } from '../../store/prior';
import { tallyOf } from '../../insights/tally';

/** What each kind of provider event means: the Segment event, the step's new status, the engagement it is. */
export const MEANING: Record<ProviderEventKind, { event: string | null; step?: StepStatus; engagement?: Engagement }> =
  {
    sent: { event: null, step: 'SENT' }, // a scheduled send went out
    delivered: { event: 'Notification Delivered', step: 'DELIVERED' },
    answered: { event: 'Notification Answered', step: 'DELIVERED', engagement: 'answered' },
    confirmed: { event: 'Notification Confirmed', step: 'COMPLETED', engagement: 'confirmed' },
    replied: { event: 'Notification Replied', step: 'COMPLETED', engagement: 'reply' },
    opened: { event: 'Notification Opened', step: 'COMPLETED', engagement: 'open' },
    machine_opened: { event: 'Notification Opened' }, // never engagement
    clicked: { event: 'Notification Clicked', step: 'COMPLETED', engagement: 'click' },
    failed: { event: 'Notification Failed', step: 'FAILED' },
    // the step ends as a failure does (the journey moves on, Segment hears Notification Failed with its
    // cause), but the learner counts only the send: a call that rings out is a non-engagement, not an
    // unreachable number
    unanswered: { event: 'Notification Failed', step: 'FAILED' },
    opted_out: { event: 'Notification Opted Out' },
    opted_in: { event: 'Notification Opted In' },
    // a WhatsApp message read: told, and engagement only with WHATSAPP_READ_ENGAGES (a read receipt
    // can be automatic, as a machine-opened email is)
    read: { event: 'Notification Read' },
    read_engaged: { event: 'Notification Read', step: 'COMPLETED', engagement: 'read' },
  };

export interface Translation {
  notificationId?: string;
  events: SegmentMessage[];
  update?: StepUpdate;
}

/** One provider event as Segment events and a step update (pure). Unattributed events update no step. */
export function translate(e: ProviderEvent): Translation {
  const meaning = MEANING[e.kind];
  const events: SegmentMessage[] = [];
  const notificationId = e.notificationId;
  if (meaning.event) {
    const props = { channel: e.channel, notification_id: notificationId, provider_id: e.providerId, ...e.details };
    events.push(trackMessage(e.who, meaning.event, e.eventId, props, e.at));
  }
  const userId = 'userId' in e.who ? e.who.userId : undefined;
  if (meaning.engagement && notificationId && userId) {
    events.push(engagedMessage(userId, notificationId, e.channel, meaning.engagement, e.at));
  }
  if (e.traits && e.identifyId) events.push(identifyMessage(e.who, e.identifyId, e.traits));
  if (!meaning.step || !notificationId || !userId) return { notificationId, events };
  return {
    notificationId,
    events,
    update: {
      notificationId,
      channel: e.channel,
      status: meaning.step,
      error: e.error,
      providerId: e.providerId,
      userId,
    },
  };
}

/** An identify of what was learned, with the notification whose record keeps it if Segment is down. */
interface Learned {
  notificationId: string;
  message: SegmentMessage;
}

/**
 * What a provider event tells the learner (and /insights): a try that went out when scheduled,
 * engagement, failure, or nothing. A delivery is counted from the record instead (app/journey/progress.ts),
 * which every delivery event updates anyway: no evidence write of its own.
 */
function evidenceKind(e: ProviderEvent): Observation['kind'] | undefined {
  const meaning = MEANING[e.kind];
  if (meaning.engagement) return 'engaged';
  // an unanswered call: counted by /insights as Segment hears it (failed), ignored by the learner
  if (e.kind === 'failed' || e.kind === 'unanswered') return e.kind;
  return e.kind === 'sent' ? 'sent' : undefined;
}

/** The learner's observations of `events`, per user, before attribution (pure). */
function observationsByUser(events: ProviderEvent[]): Learning[] {
  const byUser = new Map<string, Learning>();
  for (const e of events) {
    const userId = 'userId' in e.who ? e.who.userId : undefined;
    const kind = evidenceKind(e);
    if (!kind || !userId || !e.notificationId) continue;
    const u = byUser.get(userId) ?? { userId, observations: [], ids: [] };
    u.observations.push({ notificationId: e.notificationId, channel: e.channel, kind });
    u.ids.push(e.eventId);
    byUser.set(userId, u);
  }
  return [...byUser.values()];
}

type OwnerOf = (notificationId: string) => Promise<string | undefined | null>;
type HeardOf = (
  notificationId: string,
  channel: Channel,
  kind: Observation['kind'],
) => Pick<Observation, 'band' | 'group' | 'day' | 'cost'>;

/**
 * A user's observations as the records say: credited when the notification's record names this
 * user, each in its step's band and its notification's group and day. No record (never sent by us,
 * or expired after 40 days) credits nobody: an event naming a notification we have no record of
 * cannot be told from a forgery. A record that could not be read (null) credits the event's user:
 * the webhook answers 503 and its retry is counted once (evidence counts each event id once).
 */
async function attribute(u: Learning, ownerOf: OwnerOf, heardOf: HeardOf): Promise<Observation[]> {
  const owners = await Promise.all(u.observations.map((o) => ownerOf(o.notificationId)));
  return u.observations
    .filter((_, i) => owners[i] === null || owners[i] === u.userId)
    .map((o) => ({ ...o, ...heardOf(o.notificationId, o.channel, o.kind) }));
}

/**
 * Counts one user's attributed observations in their evidence (written over `snapshot` when the
 * caller read one) and, when they engaged, answers the identify of what was learned
 * (`channel_scores`, `best_channel`, and per band of the day). The population prior is read beside
 * the evidence write (cached per container); the change goes into `pooled`. Throws when the store fails.
 */
export async function countLearning(
  deps: Deps,
  u: Learning,
  pooled: PooledPrior,
  snapshot?: EvidenceSnapshot,
): Promise<Learned | undefined> {
  if (u.observations.length === 0) return undefined;
  const engaged = u.observations.some((o) => o.kind === 'engaged');
  const [evidence, population] = await Promise.all([
    deps.evidence.record(u.userId, u.observations, { snapshot, pooled }),
    engaged ? deps.evidence.population() : undefined,
  ]);
  if (!population) return undefined;
  const o = { now: currentTime(), halfLifeDays: deps.config.evidenceHalfLifeDays };
  const post = posteriors(CHANNELS, population.priors, evidence.channels, o);
  const scores = Object.fromEntries(Object.entries(scoresOf(post)).map(([c, score]) => [c, score?.expected]));
  const id = messageId('identify-learned', ...u.ids);
  const traits: Record<string, unknown> = { channel_scores: scores, best_channel: bestChannel(post) };
  // the best channel in each band of the day, for tools downstream that act on time too
  if (deps.config.timeBands)
    traits.best_channel_by_time = Object.fromEntries(
      BANDS.map((b) => [
        b,
        bestChannel(
          bandPosteriors(post, evidence.channels, evidence.bands, population.effects, b, {
            ...o,
            habits: population.habits,
            recent: evidence.recent,
          }),
        ),
      ]),
    );
  return {
    notificationId: u.observations[0].notificationId,
    message: identifyMessage({ userId: u.userId }, id, traits),
  };
}

/**
 * Records sends that went out later (scheduled), engagement and outright failure as the learner's
 * evidence, per user, reading each user's evidence beside their records (no added round trip), and
 * answers the identifies of what was learned. What could not be recorded is answered too, to be
 * kept or retried.
 */
async function learnFrom(
  deps: Deps,
  events: ProviderEvent[],
  pooled: PooledPrior,
  ownerOf: OwnerOf,
  heardOf: HeardOf,
): Promise<{ learned: Learned[]; unrecorded: Observation[][] }> {
  const learned: Learned[] = [];
  const unrecorded: Observation[][] = [];
  await Promise.all(
    observationsByUser(events).map(async (u) => {
      try {
        const [snapshot, observations] = await Promise.all([
          deps.evidence.snapshot(u.userId),
          attribute(u, ownerOf, heardOf),
        ]);
        const l = await countLearning(deps, { ...u, observations }, pooled, snapshot);
        if (l) learned.push(l);
      } catch (err) {
        log.error('evidence not recorded', { error: errorText(err) });
        unrecorded.push(u.observations);
      }
    }),
  );
  return { learned, unrecorded };
}

/** Every user's observations attributed, for a caller that counts them later (an `evidence` parcel). */
async function learningFor(events: ProviderEvent[], ownerOf: OwnerOf, heardOf: HeardOf): Promise<Learning[]> {
  const users = await Promise.all(
    observationsByUser(events).map(async (u) => ({ ...u, observations: await attribute(u, ownerOf, heardOf) })),
  );
  return users.filter((u) => u.observations.length > 0);
}

/**
 * Evidence the store refused, kept in each notification's record for recovery; answers whether all
 * of it was kept.
 */
async function keepEvidence(deps: Deps, unrecorded: Observation[][]): Promise<boolean> {
  const byNotification = new Map<string, Observation[]>();
  for (const o of unrecorded.flat())
    byNotification.set(o.notificationId, [...(byNotification.get(o.notificationId) ?? []), o]);
  const kept = await Promise.allSettled([...byNotification].map(([id, os]) => deps.store.keepEvidence(id, os)));
  return kept.every((k) => k.status === 'fulfilled');
}

/** The messages in order, each messageId once (the first). */
function uniqueById(messages: SegmentMessage[]): SegmentMessage[] {
  const seen = new Set<string>();
  return messages.filter((m) => !seen.has(m.messageId) && seen.add(m.messageId));
}

/** "SMS delivered ×2, EMAIL opened": what a webhook carried, in a few words. */
function summaryOf(events: ProviderEvent[]): string {
  const counts = new Map<string, number>();
  for (const e of events) counts.set(`${e.channel} ${e.kind}`, (counts.get(`${e.channel} ${e.kind}`) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k} ×${n}` : k)).join(', ') || 'none';
}

/** Promise.allSettled over `items`, with at most `limit` of them in flight. */
export async function settleLimited<T, R>(
  items: T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await run(items[i]).then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason) => ({ status: 'rejected' as const, reason }),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * What a large batch's chunk hands back instead of keeping in each record: the Segment messages
 * that could not be delivered (the records are up to date). The caller keeps them in a parcel.
 */
export class Undelivered extends Error {
  constructor(
    readonly messages: SegmentMessage[],
    /** the learner's observations, when the caller counts them later (attributeForLater) */
    readonly learning: Learning[] = [],
  ) {
    super(`${messages.length} Segment events could not be delivered`);
    this.name = 'Undelivered';
  }
}

/**
 * Records that could not be updated (the store failed, or a record that can never be written):
 * their notifications' Segment events were withheld, so that a retry of just these sends each once.
 */
export class RecordsNotUpdated extends DomainError {
  constructor(
    readonly notificationIds: string[],
    /** the learner's observations of the rest (attributeForLater) */
    readonly learning: Learning[] = [],
  ) {
    super('state_unavailable', 'the notification record could not be updated; retry later');
    this.name = 'RecordsNotUpdated';
  }
}

/** The learner's part of a webhook: what it counted now, what the store refused, what is left to count. */
interface LearnerPart {
  learned: Learned[];
  unrecorded: Observation[][];
  /** observations attributed for the caller to have counted by another invocation */
  learning: Learning[];
}

/**
 * The three stages in which a webhook handled on its own (`webhookStages`) and a large batch's chunk
 * (`chunkStages`, app/webhooks/batches.ts) differ; the caller composes them.
 */
export interface Stages {
  /** the learner's evidence, read and written concurrently with the records */
  learn(events: ProviderEvent[], heard: Heard): Promise<LearnerPart>;
  /** the prior's deltas (the delivered sends counted here go in too) */
  pooled: PooledPrior;
  /** the pooled deltas go out beside the tracking (no added round trip); never throws */
  flushPrior(): Promise<unknown>;
  /** Segment could not take the batch: where its events wait (throws when the webhook must answer 503) */
  keepUntracked(err: unknown, r: Untracked): Promise<void>;
}

/** The learner's observations counted in the users' evidence now, their prior deltas into `pooled`. */
export const countNow =
  (deps: Deps, pooled: PooledPrior): Stages['learn'] =>
  async (events, heard) => ({
    ...(await learnFrom(deps, events, pooled, heard.ownerOf, heard.heardOf)),
    learning: [],
  });

/**
 * The learner's observations attributed and answered (`learning`) for the caller to have counted by
 * another invocation: a large batch's evidence documents would double its Sync requests.
 */
export const attributeForLater: Stages['learn'] = async (events, heard) => ({
  learned: [],
  unrecorded: [],
  learning: await learningFor(events, heard.ownerOf, heard.heardOf),
});

/**
 * A webhook handled on its own: the learner counts now, the prior's deltas go out beside the tracking,
 * and what Segment cannot take waits in the notifications' records (listed in the outbox).
 */
export function webhookStages(deps: Deps): Stages {
  const pooled = new PooledPrior();
  return {
    learn: countNow(deps, pooled),
    pooled,
    flushPrior: () => deps.evidence.flushPrior(pooled),
    keepUntracked: (err, r) => keepInRecords(deps, err, r),
  };
}

/**
 * A large batch's chunk: the caller appends the pooled prior once for all its chunks and keeps what
 * Segment could not take in a parcel (handed back as Undelivered, with the learner's observations).
 */
export function chunkStages(pooled: PooledPrior, learn: Stages['learn']): Stages {
  return {
    learn,
    pooled,
    flushPrior: async () => 0,
    keepUntracked: async (_err, r) => {
      throw new Undelivered(r.all, r.learning);
    },
  };
}

interface NotificationWork {
  updates: StepUpdate[];
  /** this webhook's events about the notification */
  events: SegmentMessage[];
}

/** This webhook's record updates and Segment events, by notification. */
function workByNotification(translations: Translation[]): Map<string, NotificationWork> {
  const work = new Map<string, NotificationWork>();
  for (const t of translations) {
    if (!t.notificationId) continue;
    const w = work.get(t.notificationId) ?? { updates: [], events: [] };
    if (t.update) w.updates.push(t.update);
    work.set(t.notificationId, w);
  }
  return work;
}

/**
 * Whose each notification is, as its record says, heard when the record is read (undefined: no
 * record; null: the read failed), with the bands its steps went out in and its group: the learner's
 * writes wait for it, and the events are checked and grouped by it.
 */
class Heard {
  private owners = new Map<
    string,
    { heard: Promise<string | undefined | null>; hear: (o: string | undefined | null) => void }
  >();
  private records = new Map<string, { bands: Partial<Record<Channel, Band>>; record: NotificationRecord }>();
  /** the events' group properties, once per notification (a campaign's batch holds many events of each) */
  private groupProps = new Map<string, ReturnType<typeof groupPropsOf>>();

  constructor(ids: string[]) {
    for (const id of ids) {
      let hear: (o: string | undefined | null) => void = () => undefined;
      const heard = new Promise<string | undefined | null>((r) => {
        hear = r;
      });
      this.owners.set(id, { heard, hear });
    }
  }

  readonly ownerOf = (id: string) => this.owners.get(id)?.heard ?? Promise.resolve(undefined);
  readonly heardOf = (id: string, channel: Channel, kind: Observation['kind']) => {
    const h = this.records.get(id);
    if (!h) return {};
    // a send is counted with its step's estimated cost (/insights' spend)
    const cost = kind === 'sent' ? h.record.steps.find((st) => st.channel === channel)?.cost : undefined;
    return { band: h.bands[channel], ...countedAs(h.record), ...(cost !== undefined ? { cost } : {}) };
  };
  recordOf = (id: string) => this.records.get(id)?.record;

  /** The record as read (undefined: none), and its owner, heard once the record is complete. */
  read(id: string, owner: string | undefined | null, record: NotificationRecord | undefined): void {
    if (record) {
      const bands = Object.fromEntries(record.steps.flatMap((st) => (st.band ? [[st.channel, st.band]] : [])));
      this.records.set(id, { bands, record });
    }
    // a callback that beat /notify's final write waits for it (applyUpdates reads again): the
    // record in progress has no steps yet, so an engagement heard from it would lose its band
    if (record?.state !== 'in_progress') this.owners.get(id)?.hear(owner);
  }
  /** The read is over (a failed one included): whoever still waits hears null. */
  settled(id: string): void {
    this.owners.get(id)?.hear(null);
  }

  /** A track event about a notification, with its group (routing/holdout.ts), as its record says. */
  readonly grouped = (m: SegmentMessage): SegmentMessage => {
    const id = m.type === 'track' ? m.properties?.notification_id : undefined;
    const r = typeof id === 'string' ? this.recordOf(id) : undefined;
    if (!r || m.type !== 'track' || typeof id !== 'string') return m;
    let props = this.groupProps.get(id);
    if (!props) {
      props = groupPropsOf(r);
      this.groupProps.set(id, props);
    }
    return { ...m, properties: { ...m.properties, ...props } };
  };
}

/**
 * The translations whose user is their notification's (every owner is heard by now): an event
 * naming another user is skipped, neither sent nor kept. A notification we have no record of
 * engages nobody: what happened is told (an open, an unsubscribe), but no Notification Engaged
 * credits a user with it.
 */
async function trustedTranslations(
  translations: Translation[],
  providerEvents: ProviderEvent[],
  ids: string[],
  heard: Heard,
): Promise<{ trusted: Translation[]; skippedForUser: number }> {
  const ownerNow = new Map(await Promise.all(ids.map(async (id) => [id, await heard.ownerOf(id)] as const)));
  const trusted = translations.filter((t, i) => {
    const owner = t.notificationId ? ownerNow.get(t.notificationId) : undefined;
    const who = providerEvents[i].who;
    return typeof owner !== 'string' || !('userId' in who) || who.userId === owner;
  });
  for (const t of trusted)
    if (t.notificationId && ownerNow.get(t.notificationId) === undefined)
      t.events = t.events.filter((m) => !(m.type === 'track' && m.event === ENGAGED_EVENT));
  const skippedForUser = translations.length - trusted.length;
  if (skippedForUser) log.warn('events naming another user than their notification skipped', { count: skippedForUser });
  return { trusted, skippedForUser };
}

/** Deliveries the records took first, counted for /insights with the invocation's other counts. */
function countDeliveries(done: Applied[], ids: string[], heard: Heard, pooled: PooledPrior): void {
  done.forEach((d, i) => {
    const record = heard.recordOf(ids[i]);
    if (!record || d.delivered.length === 0) return;
    const counted = d.delivered.map((channel) => ({
      notificationId: ids[i],
      channel,
      kind: 'delivered',
      ...countedAs(record),
    }));
    pooled.add({ sums: {}, tally: tallyOf(counted, () => false) });
  });
}

/** Every event given its notification's group, and this webhook's own kept with their notification's work. */
function withGroups(
  trusted: Translation[],
  applied: PromiseSettledResult<Applied>[],
  heard: Heard,
  work: Map<string, NotificationWork>,
): void {
  for (const t of trusted) t.events = t.events.map(heard.grouped);
  for (const a of applied) if (a.status === 'fulfilled') a.value.events = a.value.events.map(heard.grouped);
  for (const t of trusted) if (t.notificationId) work.get(t.notificationId)?.events.push(...t.events);
}

/** What the records' updates left: each notification's result, and what failed. */
function outcomeOf(applied: PromiseSettledResult<Applied>[], ids: string[], sender: { retries: boolean }) {
  const done = applied.map((a) => (a.status === 'fulfilled' ? a.value : { deferred: [], events: [], delivered: [] }));
  const failed = applied.filter((a): a is PromiseRejectedResult => a.status === 'rejected');
  for (const a of failed) log.error('record update failed', { error: errorText(a.reason) });
  // Work kept in a record and listed in the outbox is completed by recovery: a sender that does
  // not retry (the incoming-message webhook) is answered 200 for it; one that retries gets 503.
  const unkept = failed.filter((a) => !(a.reason instanceof KeptForRecovery));
  // Segment hears of a notification only once its record is written: for a sender that retries, the
  // events of a record that could not be updated wait for the retry that writes it, so no retry
  // repeats what Segment has (past its ~24 h deduplication, a repeat counts again). A sender that
  // does not retry (the incoming-message webhook) gets no second chance: its events are told now.
  const unapplied = new Set(
    sender.retries
      ? ids.filter((_, i) => applied[i].status === 'rejected' && !(applied[i].reason instanceof KeptForRecovery))
      : [],
  );
  return { done, failed, unkept, unapplied };
}

/**
 * The one Segment batch: events deferred by earlier invocations, this webhook's own, the journey's and
 * the learner's identifies, in order, once per messageId (Segment would drop the repeats anyway: every
 * open after the first of a notification is the same Notification Engaged).
 */
function segmentBatch(done: Applied[], trusted: Translation[], learned: Learned[], unapplied: Set<string>) {
  const own = trusted.filter((t) => !t.notificationId || !unapplied.has(t.notificationId)).flatMap((t) => t.events);
  const told = learned.filter((l) => !unapplied.has(l.notificationId));
  const all = uniqueById([
    ...done.flatMap((d) => d.deferred),
    ...own,
    ...done.flatMap((d) => d.events),
    ...told.map((l) => l.message),
  ]);
  return { own, all };
}

/** Deferred events are in Segment now: dropped from their records (a failure leaves a repeat Segment drops). */
async function clearDelivered(deps: Deps, done: Applied[], ids: string[]): Promise<void> {
  const clearing = done.map((d, i) => [ids[i], d.deferred.map((e) => e.messageId)] as const);
  await Promise.allSettled(
    clearing.filter(([, m]) => m.length).map(([id, m]) => deps.store.clearDeferredEvents(id, m)),
  );
}

/** What a webhook had for Segment when Segment could not take it, and what else it left. */
interface Untracked {
  all: SegmentMessage[];
  learning: Learning[];
  work: Map<string, NotificationWork>;
  done: Applied[];
  ids: string[];
  allElseKept: boolean;
  retries: boolean;
}

/**
 * Segment could not take the batch: its events wait in their records (listed in the outbox) for the
 * next callback or recovery. A sender that retries, or one whose work could not all be kept, is
 * answered 503.
 */
async function keepInRecords(deps: Deps, err: unknown, r: Untracked): Promise<void> {
  log.error('Segment tracking failed; events kept for recovery', { error: errorText(err) });
  const kept = await deps.store
    .deferEventsOfMany(r.ids.map((id, i) => [id, [...(r.work.get(id)?.events ?? []), ...r.done[i].events]]))
    .catch(() => new Set<string>());
  if (r.retries || kept.size !== r.ids.length || !r.allElseKept)
    throw new DomainError('tracking_unavailable', 'events could not be delivered to Segment; retry later');
}

/**
 * Applies the record updates (one read-modify-write per notification, with
 * the journey transitions they cause; a notification with no update is read
 * too, since its record may hold deferred events), then tracks what earlier
 * invocations could not deliver, this webhook's events and the journey's, in
 * order, in one batch. When Segment or Sync cannot take them the webhook
 * answers 503, so Twilio or SendGrid retry; retried events carry the same
 * messageIds and retried transitions change nothing.
 */
export async function handleProviderEvents(
  deps: Deps,
  providerEvents: ProviderEvent[],
  sender: { retries: boolean } = { retries: true },
  stages: Stages = webhookStages(deps),
): Promise<{ tracked: number; mismatched: number; learning: Learning[] }> {
  const translations = providerEvents.map(translate);
  const work = workByNotification(translations);
  const ids = [...work.keys()];
  const heard = new Heard(ids);
  // the learner's evidence, concurrently with the records (its write waits only for the record's
  // read), counted once per notification, channel and kind however often a callback comes
  const [applied, { learned, unrecorded, learning }] = await Promise.all([
    // the invocation's upstream budget bounds the requests; this bounds the records held in memory at once
    settleLimited(ids, deps.upstream.concurrency, (id) =>
      applyUpdates(deps, id, work.get(id)?.updates ?? [], (owner, record) => heard.read(id, owner, record)).finally(
        () => heard.settled(id),
      ),
    ),
    stages.learn(providerEvents, heard),
  ]);
  const { trusted, skippedForUser } = await trustedTranslations(translations, providerEvents, ids, heard);
  withGroups(trusted, applied, heard, work);
  // a sender that retries counts it again (503 below); for one that does not, recovery counts it
  const learnFailed = unrecorded.length > 0 && (sender.retries || !(await keepEvidence(deps, unrecorded)));
  // kept with their notification's events, so that a Segment outage defers them too
  for (const l of learned) work.get(l.notificationId)?.events.push(l.message);
  const { done, failed, unkept, unapplied } = outcomeOf(applied, ids, sender);
  countDeliveries(done, ids, heard, stages.pooled);
  const { own, all } = segmentBatch(done, trusted, learned, unapplied);
  const flushing = stages.flushPrior();
  const events = summaryOf(providerEvents);
  try {
    await track(deps.config, all, deps.upstream);
  } catch (err) {
    await flushing;
    const unattributed = trusted.some((t) => !t.notificationId && t.events.length > 0);
    const allElseKept = !unattributed && unkept.length === 0 && !learnFailed;
    await stages.keepUntracked(err, { all, learning, work, done, ids, allElseKept, retries: sender.retries });
    log.info('webhook handled', { events, notifications: ids.length, tracking: 'deferred' });
    return { tracked: 0, mismatched: skippedForUser, learning };
  }
  await flushing;
  await clearDelivered(deps, done, ids);
  if (unapplied.size > 0) throw new RecordsNotUpdated([...unapplied], learning);
  if (unkept.length > 0 || learnFailed || (sender.retries && failed.length > 0))
    throw new DomainError('state_unavailable', 'the notification record could not be updated; retry later');
  const summary = { learned: learned.length || undefined, kept: failed.length || undefined };
  log.info('webhook handled', { events, notifications: ids.length, tracked: all.length, ...summary });
  return { tracked: own.length, mismatched: skippedForUser, learning };
}
