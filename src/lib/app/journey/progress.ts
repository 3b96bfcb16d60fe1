/**
 * Journey rules, applied by the webhooks and /cancel. Every transition is
 * first claimed in the Sync record with If-Match, and only then acted on at
 * the providers, so retried webhooks and races (an engagement against a
 * /cancel, two deliveries of one callback) leave one consistent record.
 *
 * - An outright failure of a step moves the journey on: the next open step is
 *   sent now and its scheduled copy cancelled (Notification Escalated).
 * - An engagement completes the journey: that step COMPLETED, every open step
 *   CANCELED and its scheduled copy cancelled.
 */
import { currentDate, currentTime } from '../../clock';
import { CHANNEL_ADDRESS, type Channel } from '../../channel-list';
import { type CancelResult, ChannelRefused, type Sent } from '../../channels/provider';
import { CHANNEL_OPS } from '../../channels/registry';
import { SCHEDULING } from '../../channels/windows';
import type { Config } from '../../config';
import { segmentsOf } from '../../channels/sms';
import type { SegmentMessage } from '../../segment-messages';
import type { Deps } from '../deps';
import { DomainError } from '../../errors';
import { costProperties, messageId, sentMessage, trackMessage } from '../../segment-messages';
import { countOrKeep } from '../evidence-counting';
import { errorText, log } from '../../log';
import { inQuietHours, parseQuietHours } from '../../quiet-hours';
import { bandAt } from '../../routing/bands';
import { countedAs, groupPropsOf, type NotificationRecord } from '../../store/records';
import { advance, isOpen, type Step, type StepStatus, stepView } from '../../journey/steps';

export type JourneyDeps = Deps;

export interface StepUpdate {
  notificationId: string;
  channel: Channel;
  status: StepStatus;
  error?: string;
  /** the provider's id of what the callback is about */
  providerId?: string;
  /** the user the provider's event names: an update for another user than the record's is not applied */
  userId?: string;
}

/** How often a callback that beat /notify looks at the record again. */
const EARLY_WAIT_MS = 250;
/**
 * A record still `in_progress` this long after it was created belongs to a /notify that ended
 * without its final write (Twilio stops a function at 10 s): a callback completes it.
 */
export const STUCK_AFTER_MS = 11_000;

/**
 * Applies callback updates to a record (answers whether it changed, and the channels whose delivery
 * it marked first). A stuck record is first completed from what the callback knows: the channel, the
 * provider id, that it was sent.
 */
function applyTo(
  r: NotificationRecord,
  updates: StepUpdate[],
  now = currentTime(),
): { touched: boolean; delivered: Channel[] } {
  let touched = false;
  const delivered: Channel[] = [];
  const at = new Date(now).toISOString();
  const known = updates.find((u) => u.providerId);
  if (r.state === 'in_progress' && known?.providerId && now - Date.parse(r.createdAt) > STUCK_AFTER_MS) {
    const { channel, providerId } = known;
    r.state = 'done';
    r.reason = 'recovered';
    r.steps = [{ channel, status: 'SENT', providerId, updatedAt: at }];
    r.result = {
      notificationId: r.notificationId,
      userId: r.userId,
      channel,
      reason: 'recovered',
      status: 'sent',
      providerId,
    };
    log.warn('stuck notification completed from its callback', { notification: r.notificationId, channel });
    touched = true;
  }
  for (const u of updates) {
    if (u.userId !== undefined && u.userId !== r.userId) continue; // not this notification's user: skipped
    const step = r.steps.find((s) => s.channel === u.channel);
    if (!step) continue;
    // a delivery is counted once (an open can come first: the step no longer moves to DELIVERED then)
    if (u.status === 'DELIVERED' && !step.delivered && r.state !== 'in_progress') {
      step.delivered = true;
      delivered.push(step.channel);
      touched = true;
    }
    if (!advance(step, u.status, at, u.error)) continue;
    touched = true;
    if (u.status === 'COMPLETED') completeJourney(r, step, at);
    if (u.status === 'FAILED') claimNext(r, step, u.error ?? 'failed', at);
  }
  return { touched, delivered };
}

/**
 * A claimed escalation older than this whose step was never sent is taken over by a retried callback
 * or by recovery: its invocation (10 s at most) failed or was killed.
 */
const STALE_CLAIM_MS = 30_000;
const abandoned = (step: Step) => currentTime() - Date.parse(step.escalatedAt ?? '') > STALE_CLAIM_MS;

/**
 * Takes over an abandoned claim by claiming it afresh, in one conditional write: of a retried callback
 * and sweeps of several containers at once, only the one whose write lands sends the step. Answers
 * the record as written, or undefined when another took it (or it is no longer open and abandoned).
 */
async function takeOver(deps: JourneyDeps, id: string, channel: Channel): Promise<NotificationRecord | undefined> {
  const { record, changed } = await deps.store.updateNotification(id, (r) => {
    const s = r.steps.find((x) => x.channel === channel);
    if (!s || !isOpen(s) || !abandoned(s)) return false;
    s.escalatedAt = currentDate().toISOString();
    return true;
  });
  return changed ? record : undefined;
}

function claimNext(record: NotificationRecord, from: Step, cause: string, at: string): void {
  if (record.state === 'completed' || record.state === 'canceled') return;
  const index = record.steps.indexOf(from);
  const next = record.steps.slice(index + 1).find((s) => isOpen(s) && !s.escalatedFrom);
  if (!next) return;
  next.escalatedFrom = from.channel;
  next.escalatedAt = at;
  next.cause = cause;
}

function completeJourney(record: NotificationRecord, engaged: Step, at: string): void {
  record.state = 'completed';
  for (const s of record.steps) {
    if (s !== engaged && isOpen(s)) {
      s.status = 'CANCELED';
      s.cause = `engaged on ${engaged.channel}`;
      s.updatedAt = at;
    }
  }
}

const escalatedEvent = (record: NotificationRecord, from: Channel, step: Step): SegmentMessage =>
  trackMessage(
    { userId: record.userId },
    'Notification Escalated',
    messageId('escalated', record.notificationId, from, step.channel),
    {
      notification_id: record.notificationId,
      from_channel: from,
      to_channel: step.channel,
      cause: step.cause,
      ...groupPropsOf(record),
    },
  );

export interface Applied {
  /** events an earlier invocation could not deliver, replayed with their messageIds */
  deferred: SegmentMessage[];
  /** events of the journey transitions this update caused */
  events: SegmentMessage[];
  /** channels whose delivery this update recorded first (counted once in /insights) */
  delivered: Channel[];
}

/**
 * Applies one notification's webhook updates (possibly none) and the journey transitions they cause.
 * `onOwner` hears whose notification it is as soon as the record is read (undefined: there is none),
 * with the record as read, so that the learner can credit the right user (and the band each step
 * went out in) without waiting for the write.
 */
export async function applyUpdates(
  deps: JourneyDeps,
  id: string,
  updates: StepUpdate[],
  onOwner: (userId: string | undefined, record?: NotificationRecord) => void = () => undefined,
): Promise<Applied> {
  // deliveries the write marked first: of the last mutation tried, kept when it was the one written
  const delivered: Channel[] = [];
  let marked: Channel[] = [];
  const apply = async () => {
    const done = await deps.store.updateNotification(id, (r) => {
      onOwner(r.userId, r);
      const applied = applyTo(r, updates);
      marked = applied.delivered;
      return applied.touched;
    });
    if (done.changed) delivered.push(...marked);
    return done;
  };
  let { record, changed } = await apply();
  if (!record) onOwner(undefined);
  updates = updates.filter((u) => u.userId === undefined || u.userId === record?.userId);
  // A callback can beat /notify's final write: wait for it within this invocation's budget, rather
  // than ask a sender to retry (it may not), then leave the update to a retry only if time runs out.
  while (record?.state === 'in_progress' && updates.length > 0 && deps.deadline.allows(EARLY_WAIT_MS, 2500)) {
    await new Promise((r) => setTimeout(r, EARLY_WAIT_MS));
    ({ record, changed } = await apply());
  }
  if (!record) return { deferred: [], events: [], delivered };
  if (record.state === 'in_progress' && updates.length > 0) {
    throw new DomainError('state_unavailable', `notification ${id} is still being sent; retry later`);
  }
  const events: SegmentMessage[] = scheduledSent(deps, record, updates);
  if (updates.some((u) => u.status === 'COMPLETED')) {
    await cancelOrKeep(
      deps,
      id,
      record.steps.filter((s) => s.status === 'CANCELED'),
    );
  }
  for (const u of updates.filter((x) => x.status === 'FAILED')) {
    const next = record.steps.find((s) => s.escalatedFrom === u.channel);
    if (!next) continue;
    const owned = isOpen(next) && (changed ? record : abandoned(next) && (await takeOver(deps, id, next.channel)));
    if (owned) {
      // listed for recovery before anything is done: a send that fails after the step's scheduled copy
      // was cancelled would otherwise leave the step unsent for good (a provider does not resend a
      // status callback that was answered 5xx)
      await deps.store.outbox.add(id).catch((err) => {
        log.warn('escalation not listed for recovery; sent anyway', { notification: id, error: errorText(err) });
      });
      const step = owned.steps.find((s) => s.channel === next.channel) ?? next;
      events.push(...(await escalate(deps, owned, u.channel, step)));
    } else if (!isOpen(next)) {
      events.push(escalatedEvent(record, u.channel, next)); // a retried callback: same messageId, deduplicated by Segment
    }
  }
  return { deferred: record.deferredEvents ?? [], events, delivered };
}

/**
 * `Notification Sent` for a scheduled step its provider reports gone out, with the cost estimated
 * when it was scheduled: Segment hears every send that is spent on, as /insights counts it. Its
 * messageId is the send's own, so a repeated callback, or an escalation that sent the step itself,
 * is the same event (Segment keeps one).
 */
function scheduledSent(deps: JourneyDeps, record: NotificationRecord, updates: StepUpdate[]): SegmentMessage[] {
  const out: SegmentMessage[] = [];
  for (const u of updates) {
    const step = u.status === 'SENT' ? record.steps.find((s) => s.channel === u.channel) : undefined;
    if (!step?.scheduledAt) continue;
    const props = {
      reason: 'scheduled',
      provider_id: u.providerId ?? step.providerId,
      ...costProperties(step.cost, deps.config.costCurrency),
      ...groupPropsOf(record),
    };
    out.push(sentMessage(record.userId, record.notificationId, u.channel, props));
  }
  return out;
}

/** Work that failed now but is kept in the record and listed in the outbox: recovery completes it. */
export class KeptForRecovery extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeptForRecovery';
  }
}

/**
 * Cancels the scheduled copies of an engaged journey's canceled steps; a cancel that fails is kept
 * (retried by recovery until the send time, then reported) and signalled with KeptForRecovery.
 */
async function cancelOrKeep(deps: JourneyDeps, id: string, steps: Step[]): Promise<void> {
  const { failed } = await cancelEach(deps, steps);
  if (failed.length === 0) return;
  const reason = failed[0].reason;
  log.error('scheduled copy not cancelled; kept for recovery', { notification: id, error: errorText(reason) });
  const pending = failed.map(({ step: s }) => ({
    channel: s.channel,
    providerId: s.providerId,
    batchId: s.batchId,
    scheduledAt: s.scheduledAt ?? currentDate().toISOString(),
  }));
  await deps.store.keepCancels(id, pending).catch(() => Promise.reject(reason));
  throw new KeptForRecovery(`notification ${id}: ${failed.length} cancel(s) kept for recovery`);
}

/** Cancels the scheduled copies of steps; throws (so the caller answers 5xx and is retried) when a provider failed. */
async function cancelCopies(deps: JourneyDeps, steps: Step[]): Promise<Map<Step, CancelResult | undefined>> {
  const { results, failed } = await cancelEach(deps, steps);
  if (failed.length > 0) throw failed[0].reason;
  return results;
}

/** Cancels every step's scheduled copy at once; answers what each gave, and which failed. */
async function cancelEach(deps: JourneyDeps, steps: Step[]) {
  const settled = await Promise.allSettled(steps.map((s) => cancelCopy(deps, s)));
  const results = new Map<Step, CancelResult | undefined>();
  const failed: Array<{ step: Step; reason: unknown }> = [];
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') results.set(steps[i], r.value);
    else failed.push({ step: steps[i], reason: r.reason });
  });
  return { results, failed };
}

/** Cancels the provider's scheduled copy of a step, if it has one. */
export async function cancelCopy(
  deps: JourneyDeps,
  step: Pick<Step, 'channel' | 'scheduledAt' | 'providerId' | 'batchId'>,
): Promise<CancelResult | undefined> {
  if (!step.scheduledAt || !step.providerId) return undefined;
  const result = await CHANNEL_OPS[step.channel].cancel(deps, step);
  log.info('scheduled copy cancel', { channel: step.channel, provider: step.providerId, result });
  return result;
}

function quietNow(record: NotificationRecord): boolean {
  const j = record.journey;
  const qh = j?.quietHours ? parseQuietHours(j.quietHours) : undefined;
  return Boolean(j && qh && !j.urgent && inQuietHours(currentDate(), qh, j.timezone));
}

/** Sends `step` now, cancelling its scheduled copy: what went out, or why it could not (a quiet-hours call, a refusal). */
async function sendNow(
  deps: JourneyDeps,
  record: NotificationRecord,
  step: Step,
): Promise<{ sent?: Sent; failure?: string }> {
  const { content, journey } = record;
  if (!content || !journey) return { failure: 'no content' };
  if (step.channel === 'CALL' && quietNow(record)) return { failure: 'quiet hours: no calls' };
  await cancelCopies(deps, [step]);
  return handOver(deps, record, step);
}

/**
 * Hands a journey's step to its provider, to send now or at `at`: what it took, or why it refused
 * (ChannelRefused). Any other error (the provider down) is thrown.
 */
async function handOver(
  deps: JourneyDeps,
  record: NotificationRecord,
  step: Step,
  at?: Date,
): Promise<{ sent?: Sent; failure?: string }> {
  const { content, journey } = record as Required<Pick<NotificationRecord, 'content' | 'journey'>>;
  const { notificationId, userId } = record;
  const req = { notificationId, userId, content, baseUrl: deps.baseUrl, ...(at ? { at } : {}) };
  try {
    return { sent: await CHANNEL_OPS[step.channel].send(deps, journey.to, req) };
  } catch (err) {
    if (!(err instanceof ChannelRefused)) throw err;
    return { failure: err.why };
  }
}

/** The escalated step as its send left it (pure, in the record's read-modify-write): sent, or failed and the next claimed. */
function markEscalated(r: NotificationRecord, step: Step, o: { sent?: Sent; failure?: string; timezone: string }) {
  const s = r.steps.find((x) => x.channel === step.channel);
  const at = currentDate().toISOString();
  if (!s) return false;
  s.updatedAt = at;
  if (o.failure) {
    s.status = 'FAILED';
    s.error = o.failure;
    claimNext(r, s, o.failure, at);
    return true;
  }
  s.providerId = o.sent?.providerId;
  s.batchId = undefined;
  s.band = bandAt(Date.parse(at), o.timezone);
  // Sent even if an engagement canceled the journey meanwhile: the record says what happened. But a
  // callback of this very send can beat this write (delivered, even a reply): never move it back.
  if (isOpen(s) || s.status === 'CANCELED') s.status = 'SENT';
  return true;
}

/** An escalation's send (of a record with its content and journey) told: Notification Sent, the number's contact for replies, and a try of its channel counted. */
async function escalationSent(
  deps: JourneyDeps,
  record: NotificationRecord,
  step: Step,
  sent: Sent | undefined,
): Promise<SegmentMessage> {
  const { content, journey } = record as Required<Pick<NotificationRecord, 'content' | 'journey'>>;
  const props = {
    reason: 'escalation',
    provider_id: sent?.providerId,
    ...(step.channel === 'SMS' ? segmentsOf(content.message) : {}),
    ...costProperties(step.cost, deps.config.costCurrency),
  };
  // the number a reply comes from: the phone's, or the WhatsApp number's
  const number =
    CHANNEL_ADDRESS[step.channel].kind === 'email' ? undefined : journey.to[CHANNEL_ADDRESS[step.channel].kind];
  const { userId, notificationId } = record;
  const contact = { userId, notificationId, updatedAt: currentDate().toISOString() };
  // the contact's WhatsApp window is kept (an escalation is rare: one read more)
  const writeContact = async (n: string) => {
    const window = (await deps.store.readContact(n).catch(() => undefined))?.whatsappInboundAt;
    await deps.store.writeContact(n, { ...contact, ...(window ? { whatsappInboundAt: window } : {}) });
  };
  await Promise.all([
    number ? writeContact(number) : undefined,
    countOrKeep(deps, userId, [
      {
        notificationId,
        channel: step.channel,
        kind: 'sent',
        band: bandAt(currentTime(), journey.timezone),
        ...countedAs(record),
        ...(step.cost !== undefined ? { cost: step.cost } : {}),
      },
    ]),
  ]);
  return sentMessage(userId, notificationId, step.channel, { ...props, ...groupPropsOf(record) });
}

/** Sends `step` now (cancelling its scheduled copy); a refused or quiet-hours call moves on to the next step. */
async function escalate(
  deps: JourneyDeps,
  record: NotificationRecord,
  from: Channel,
  step: Step,
): Promise<SegmentMessage[]> {
  const { content, journey } = record;
  if (!content || !journey) return [];
  const events: SegmentMessage[] = [escalatedEvent(record, from, step)];
  const { sent, failure } = await sendNow(deps, record, step);
  const { record: after } = await deps.store.updateNotification(record.notificationId, (r) =>
    markEscalated(r, step, { sent, failure, timezone: journey.timezone }),
  );
  const result = failure ?? 'sent';
  log.info('journey escalated', {
    notification: record.notificationId,
    from: step.escalatedFrom,
    to: step.channel,
    result,
  });
  if (!failure) return [...events, await escalationSent(deps, record, step, sent)];
  const next = after?.steps.find((s) => s.escalatedFrom === step.channel && isOpen(s));
  if (after && next) events.push(...(await escalate(deps, after, step.channel, next)));
  return events;
}

/**
 * Recovery's part of escalations: a claimed step still unsent after STALE_CLAIM_MS is sent now (its
 * invocation failed, perhaps after cancelling the step's scheduled copy). Answers the events, and
 * whether a claim was too recent to take over (left to a later sweep).
 */
export async function resumeEscalations(
  deps: JourneyDeps,
  record: NotificationRecord,
): Promise<{ events: SegmentMessage[]; waiting: boolean }> {
  const events: SegmentMessage[] = [];
  let waiting = false;
  if (record.state !== 'done') return { events, waiting };
  for (const step of record.steps) {
    if (!step.escalatedFrom || !isOpen(step)) continue;
    if (!abandoned(step)) {
      waiting = true;
      continue;
    }
    const owned = await takeOver(deps, record.notificationId, step.channel);
    const taken = owned?.steps.find((s) => s.channel === step.channel);
    if (owned && taken) events.push(...(await escalate(deps, owned, step.escalatedFrom, taken)));
  }
  return { events, waiting };
}

/**
 * Recovery's part of a later step /notify could not hand to its provider's scheduler (`unscheduled`:
 * an outage outlasted its retries). Once the provider answers, the step is scheduled for its time, or
 * as soon as the provider allows when its notice has run out (schedulableAt), or sent at once when its
 * time has passed, as its scheduled copy would have been. Claimed first in the record, so that of
 * several sweeps one hands it over; a step escalated to meanwhile is the escalation's. A refusal fails
 * the step, as it does at /notify. Answers how many were handed over, and whether one still waits
 * (another sweep's claim, its time, or the provider, whose error is thrown).
 */
export async function scheduleKeptSteps(
  deps: JourneyDeps,
  record: NotificationRecord,
): Promise<{ scheduled: number; waiting: boolean }> {
  let scheduled = 0;
  let waiting = false;
  const { content, journey } = record;
  if (record.state !== 'done' || !content || !journey) return { scheduled, waiting };
  for (const step of record.steps) {
    if (!step.unscheduled || !isOpen(step) || step.escalatedFrom) continue;
    const now = currentDate();
    const planned = new Date(step.scheduledAt ?? now.toISOString());
    const at = schedulableAt(step.channel, planned, now, deps.config);
    if (!at && now < planned) {
      waiting = true; // its provider cannot schedule it at all: sent when due
      continue;
    }
    const claimed = await claimScheduling(deps, record.notificationId, step.channel);
    if (claimed === 'held') waiting = true;
    if (claimed !== 'claimed') continue;
    // the provider still down throws: the claim goes stale, and a later sweep tries again
    const { sent, failure: refused } = await handOver(deps, record, step, at);
    let handed = false;
    await deps.store.updateNotification(record.notificationId, (r) => {
      const s = r.steps.find((x) => x.channel === step.channel);
      handed = Boolean(s?.unscheduled && isOpen(s) && !s.escalatedFrom);
      if (!s || !handed) return false;
      s.unscheduled = undefined;
      s.schedulingAt = undefined;
      s.updatedAt = currentDate().toISOString();
      if (refused) {
        s.status = 'FAILED';
        s.error = refused;
        return true;
      }
      s.error = undefined;
      s.status = 'SCHEDULED'; // its provider reports it sent, as it does a scheduled copy
      s.providerId = sent?.providerId;
      s.batchId = sent?.batchId;
      const when = at ?? now;
      s.scheduledAt = when.toISOString();
      s.band = bandAt(when.getTime(), journey.timezone);
      return true;
    });
    log.info('kept step handed to its provider', {
      notification: record.notificationId,
      channel: step.channel,
      result: refused ?? (at ? `scheduled${at > planned ? ', later than planned' : ''}` : 'sent, due'),
    });
    if (!handed && sent && at) {
      // the journey moved on meanwhile (completed, canceled, or escalated to this step): its copy may not go out
      const copy = { ...step, ...sent, scheduledAt: at.toISOString(), status: 'CANCELED' as const };
      await cancelOrKeep(deps, record.notificationId, [copy]);
    }
    if (handed && !refused) scheduled++;
  }
  return { scheduled, waiting };
}

/**
 * When a kept step can still be scheduled: at its planned time, or, once its provider's least notice
 * has run out (Message Scheduling's 15 minutes), as soon as the provider allows, a minute's margin
 * for the request's way (rather than wait for a sweep after its time). Undefined: send it now if due.
 */
function schedulableAt(channel: Channel, planned: Date, now: Date, config: Config): Date | undefined {
  if (planned <= now) return undefined;
  if (!CHANNEL_OPS[channel].cannotSchedule(planned, now, config)) return planned;
  // whole seconds, as the providers take their times
  const soonest = new Date(Math.ceil((now.getTime() + (SCHEDULING[channel]?.minMs ?? 0) + 60_000) / 1000) * 1000);
  return CHANNEL_OPS[channel].cannotSchedule(soonest, now, config) ? undefined : soonest;
}

/** Claims scheduling a kept step in one conditional write: `held` while another sweep's claim is fresh. */
async function claimScheduling(deps: JourneyDeps, id: string, channel: Channel): Promise<'claimed' | 'held' | 'gone'> {
  let outcome: 'claimed' | 'held' | 'gone' = 'gone';
  await deps.store.updateNotification(id, (r) => {
    const s = r.steps.find((x) => x.channel === channel);
    if (!s?.unscheduled || !isOpen(s) || s.escalatedFrom) {
      outcome = 'gone';
      return false;
    }
    if (s.schedulingAt && currentTime() - Date.parse(s.schedulingAt) <= STALE_CLAIM_MS) {
      outcome = 'held';
      return false;
    }
    s.schedulingAt = currentDate().toISOString();
    outcome = 'claimed';
    return true;
  });
  return outcome;
}

export interface CancelOutcome {
  record?: NotificationRecord;
  canceledNow: Channel[];
  results: Array<ReturnType<typeof stepView> & { result: string }>;
}

/** /cancel: every open step CANCELED (claimed first), then its scheduled copy cancelled at the provider. */
export async function cancelJourney(deps: JourneyDeps, notificationId: string): Promise<CancelOutcome> {
  let openBefore: Channel[] = [];
  const { record } = await deps.store.updateNotification(notificationId, (r) => {
    openBefore = r.steps.filter(isOpen).map((s) => s.channel);
    if (openBefore.length === 0) return false;
    const at = currentDate().toISOString();
    for (const s of r.steps.filter(isOpen)) {
      s.status = 'CANCELED';
      s.cause = 'canceled by request';
      s.updatedAt = at;
    }
    if (r.state !== 'completed') r.state = 'canceled';
    return true;
  });
  if (!record) return { canceledNow: [], results: [] };
  // Cancel at the providers every canceled step's copy (again, harmlessly, on a retried /cancel).
  const outcomes = await cancelCopies(
    deps,
    record.steps.filter((s) => s.status === 'CANCELED' && s.cause === 'canceled by request'),
  );
  const tooLate = [...outcomes].filter(([, r]) => r === 'too_late').map(([s]) => s.channel);
  let final = record;
  if (tooLate.length) {
    final =
      (
        await deps.store.updateNotification(notificationId, (r) => {
          for (const s of r.steps)
            if (tooLate.includes(s.channel)) Object.assign(s, { status: 'SENT', error: 'already sent when canceled' });
          return true;
        })
      ).record ?? record;
  }
  return {
    record: final,
    canceledNow: openBefore.filter((c) => !tooLate.includes(c)),
    results: final.steps.map((s) => ({
      ...stepView(s),
      result: tooLate.includes(s.channel)
        ? 'too_late'
        : openBefore.includes(s.channel)
          ? 'canceled'
          : s.status === 'CANCELED'
            ? 'already_canceled'
            : 'not_pending',
    })),
  };
}
