/**
 * /notify as a sequence of named steps:
 *   read and lock → decide, plan and send the first step (falling back when a
 *   provider refuses the channel) → schedule the later steps → record and
 *   track → answer.
 * A single notification waits on three upstream round trips in sequence (the
 * first stage's reads run concurrently, as do the last stage's writes); an
 * escalation adds one (its scheduled steps, in parallel). The prices the cost
 * estimates need are read in the first stage (costing.ts).
 */
import { currentDate, currentTime } from '../../clock';
import { sendWithFallback } from '../../channels/fallback';
import { ChannelRefused, type SendRequest, type Sent } from '../../channels/provider';
import { CHANNEL_ADDRESS, type Channel } from '../../channel-list';
import { CHANNEL_OPS } from '../../channels/registry';
import { WINDOW_MS as WHATSAPP_WINDOW_MS } from '../../channels/whatsapp';
import { type SmsSize, segmentsOf, smsSizeWarning } from '../../channels/sms';
import { type ProfileResult, readTraits } from '../../clients/profiles';
import type { SegmentMessage } from '../../segment-messages';
import { twilioErrorCode } from '../../clients/twilio';
import { retryWithin } from '../../deadline';
import { type Deps, wire } from '../deps';
import { DomainError, upstreamFailure } from '../../errors';
import { costProperties, identifyMessage, messageId, sentMessage, trackMessage } from '../../segment-messages';
import type { EndpointRequest, Reply } from '../../http/endpoint';
import { type Plan, planJourney } from '../../journey/plan';
import { type Step, stepView } from '../../journey/steps';
import { countOrKeep } from '../evidence-counting';
import { errorText, log } from '../../log';
import { type Band, bandAt } from '../../routing/bands';
import { type BestTime, bestTime, DEFAULT_WITHIN_MS } from '../../routing/best-time';
import { posteriors } from '../../routing/learn';
import { costsKnown, decideRoute, type Route, type RouteOptions, traitNames } from '../../routing/route';
import { dayOf, tallyOf } from '../../insights/tally';
import { PooledPrior } from '../../store/prior';
import { type Assignment, assign, type Group, groupProperties } from '../../routing/holdout';
import type { SlotTaken } from '../../store/cap';
import type { KnowledgeRead, Observation } from '../../store/evidence';
import type { ContactFound, NotificationRecord } from '../../store/records';
import { trackOrDefer } from '../tracking';
import { badRequest } from '../../http/errors';
import { checkSendAt, type NotifyInput, parseNotifyInput, requestFingerprint } from './input';
import { type Costing, costingOf, engagementWhy, readPrices } from './costing';
import type { CountryPrices } from '../../costs/prices';

export async function notify(req: EndpointRequest): Promise<Reply> {
  // a signed request can be replayed as it is: with its own notificationId, a replay is a duplicate, never a send
  if (req.caller === 'signature' && req.params.notificationId === undefined)
    throw badRequest(
      'notificationId',
      'notificationId is required when a Twilio signature authenticates the call',
      'missing_parameter',
    );
  const input = parseNotifyInput(req.params, req.config);
  const deps = wire(req);
  const now = currentDate();
  checkSendAt(input.sendAt, now.getTime());
  const start = await readAndLock(deps, input, now, assign(input, deps.config));
  if (start.lock === 'exists') {
    await freeSlot(deps, input, start); // the request that holds the id holds its own
    return replayDuplicate(deps, input);
  }
  if (start.slot && 'failed' in start.slot) {
    // the cap could not be read: nothing is sent (it might be one too many), and the id is free for a retry
    await deps.store.deleteNotification(input.notificationId).catch(() => undefined);
    throw start.slot.failed;
  }
  if (start.slot && start.slot.slot === undefined) return suppress(deps, input, start, start.slot.freeAt);
  let first: FirstStep;
  try {
    first = await sendFirstStep(deps, input, start, now);
  } catch (err) {
    // Nothing was sent: release the lock (and the cap's slot) so a corrected retry can send.
    await Promise.all([
      deps.store.deleteNotification(input.notificationId).catch(() => undefined),
      freeSlot(deps, input, start),
    ]);
    throw asDomainError(err);
  }
  const steps = await scheduleLaterSteps(deps, input, first, start);
  const result = answerOf(input, first, steps, start);
  const tracking = await recordAndTrack(deps, input, first, steps, result, start);
  // one line per send for whoever follows `twilio serverless:logs` (addresses masked by log)
  log.info('notify sent', {
    notification: input.notificationId,
    user: input.userId,
    channel: first.route.channel,
    reason: first.route.reason,
    status: String(result.status),
    to: first.route[CHANNEL_ADDRESS[first.route.channel].kind],
    steps: steps.length > 1 ? steps.map((s) => `${s.channel}:${s.status}`).join(',') : undefined,
    tracking,
  });
  return { status: 200, json: { ...result, tracking } };
}

type Start = KnowledgeRead & {
  /** the notification's group and its user's arm (routing/holdout.ts) */
  assignment: Assignment;
  /** the UTC day of the record's createdAt: where /insights counts the notification */
  day: string;
  profile: ProfileResult;
  lock: 'exists' | { record: NotificationRecord; revision: string };
  /** whether the contact record of the request's phone exists (undefined: unknown) */
  /** where the number's contact document is (store/records.ts), when the read answered */
  contactFound?: ContactFound;
  /** when the user last wrote on WhatsApp (from the WhatsApp number's contact), for its 24-hour window */
  whatsappInboundAt?: string;
  /** the phone's contact's own, kept when /notify rewrites that contact */
  phoneWhatsappInboundAt?: string;
  /** with FREQUENCY_CAP, for a non-urgent notification: the slot it holds, none, or why it is unknown (store/cap.ts) */
  slot?: SlotTaken | { failed: unknown };
  /** the prices of the request's number's country (or the locale's), for the cost estimates */
  prices?: CountryPrices;
};

/**
 * Stage 1, concurrently: the profile, the notification's lock, whether the contact record exists,
 * and what the learner knows.
 */
async function readAndLock(deps: Deps, input: NotifyInput, now: Date, assignment: Assignment): Promise<Start> {
  const pending: NotificationRecord = {
    notificationId: input.notificationId,
    userId: input.userId,
    locale: input.locale,
    createdAt: now.toISOString(),
    state: 'in_progress',
    steps: [],
    request: requestFingerprint(input),
    group: assignment.group,
    ...(assignment.holdout ? { holdout: true } : {}),
  };
  const phone = input.phone;
  const cap = deps.config.frequencyCap;
  // a scheduled send holds its slot from its send time; sendAt=best from the end of its window
  const sendsAt = input.sendAt?.getTime() ?? now.getTime() + (input.bestWithinMs ?? 0);
  const whatsapp = input.whatsapp;
  const [profile, lock, contact, knowledge, slot, prices, whatsappContact] = await Promise.all([
    readTraits(deps.config, input.userId, traitNames(deps.config), deps.upstream),
    deps.store.createNotification(pending),
    phone ? deps.store.findContact(phone).catch(() => undefined) : Promise.resolve(undefined),
    deps.evidence.knowledge(input.userId),
    // urgent notifications are never capped (nor are an escalation's later steps: they are not sent here)
    cap && !input.urgent
      ? deps.slots
          .take(input.userId, input.notificationId, cap, now.getTime(), sendsAt)
          .catch((failed: unknown) => ({ failed }))
      : Promise.resolve(undefined),
    readPrices(deps, input),
    // the WhatsApp number's own contact, when it is not the phone's (its window)
    whatsapp && whatsapp !== phone
      ? deps.store.findContact(whatsapp).catch(() => undefined)
      : Promise.resolve(undefined),
  ]);
  const contactFound = contact?.found;
  const whatsappInboundAt = (whatsapp === phone ? contact : whatsappContact)?.contact?.whatsappInboundAt;
  if (profile.status === 'unavailable')
    log.warn('profile unavailable, routing without traits', { error: profile.error });
  return {
    assignment,
    day: dayOf(now),
    profile,
    lock,
    contactFound,
    ...(contact?.contact?.whatsappInboundAt ? { phoneWhatsappInboundAt: contact.contact.whatsappInboundAt } : {}),
    ...(whatsappInboundAt ? { whatsappInboundAt } : {}),
    slot,
    prices,
    ...knowledge,
  };
}

/** Frees the cap's slot this request took (and any extra ones), when it will not send. */
async function freeSlot(deps: Deps, input: NotifyInput, start: Start): Promise<void> {
  const held = start.slot;
  if (!held || 'failed' in held || held.slot === undefined) return;
  const cap = deps.config.frequencyCap;
  if (!cap) return;
  await Promise.all([
    held.freeing,
    deps.slots.free(input.userId, input.notificationId, [held.slot], cap, currentTime()),
  ]);
}

/**
 * Over the cap: nothing is sent. The record keeps the answer (a retry of the id replays it), and
 * Segment hears `Notification Suppressed`.
 */
async function suppress(deps: Deps, input: NotifyInput, start: Start, freeAt?: string): Promise<Reply> {
  const id = input.notificationId;
  const cap = deps.config.frequencyCap?.text;
  const grouped = groupProperties(start.assignment);
  const result = {
    notificationId: id,
    userId: input.userId,
    status: 'suppressed',
    reason: 'frequency_cap',
    cap,
    // when the earliest slot frees (null: a racer holds one that is about to be freed)
    nextSlotAt: freeAt ?? null,
    ...grouped,
  };
  const props = { notification_id: id, reason: 'frequency_cap', cap, next_slot_at: freeAt, ...grouped };
  const event = trackMessage({ userId: input.userId }, 'Notification Suppressed', messageId('suppressed', id), props);
  // counted once (only the request holding the id's lock gets here), beside the record and the event
  const counted = new PooledPrior();
  const group = start.assignment.group;
  counted.add({
    sums: {},
    tally: tallyOf([{ notificationId: id, kind: 'suppressed', group, day: start.day }], () => false),
  });
  const [tracking, stored] = await Promise.allSettled([
    trackOrDefer(deps.config, deps.store, id, [event], deps.upstream),
    deps.evidence.flushPrior(counted),
    updateRecordWithin(deps, id, start, (r) => {
      r.state = 'suppressed';
      r.result = result;
      return true;
    }),
  ]);
  if (stored.status === 'rejected')
    log.error('notification record not updated', { notification: id, error: errorText(stored.reason) });
  log.info('notify suppressed', { notification: id, user: input.userId, cap });
  return { status: 200, json: { ...result, tracking: tracking.status === 'fulfilled' ? tracking.value : 'deferred' } };
}

/**
 * The record written by the request that holds its lock: over the lock's revision (no read), retried
 * within the deadline; after a failure read again, since the write may have landed.
 */
function updateRecordWithin(deps: Deps, id: string, start: Start, change: (r: NotificationRecord) => boolean) {
  let known = start.lock === 'exists' ? undefined : start.lock;
  return retryWithin(deps.deadline, () => {
    const over = known;
    known = undefined; // after a failure, read again: the write may have landed
    return deps.store.updateNotification(id, change, over);
  });
}

const DUPLICATE_WAIT_MS = [250, 500, 1000];

/** Another request holds this id: answer what it answered (waiting briefly while it is still sending). */
async function replayDuplicate(deps: Deps, input: NotifyInput): Promise<Reply> {
  const id = input.notificationId;
  for (const wait of [0, ...DUPLICATE_WAIT_MS]) {
    if (wait) await new Promise((r) => setTimeout(r, wait));
    const existing = await deps.store.readNotification(id);
    const taken = existing?.record.request;
    if (taken && taken !== requestFingerprint(input)) {
      const why = `notificationId ${id} was already used for a different request (recipient, content or timing)`;
      throw new DomainError('conflict', why, 'notificationId');
    }
    const result = existing?.record.result;
    // a suppressed notification stays suppressed: a retry of its id is not a send either
    if (result)
      return { status: 200, json: { ...result, status: result.status === 'suppressed' ? 'suppressed' : 'duplicate' } };
  }
  throw new DomainError('in_progress', `notification ${id} is already being sent`, 'notificationId');
}

interface FirstStep {
  route: Route;
  plan: Plan;
  sent: Sent;
  refusals: ChannelRefused[];
  /** what the SMS body costs, when a step is an SMS */
  sms?: SmsSize;
  /** warnings for the caller (an SMS body over SMS_MAX_SEGMENTS) */
  warnings: string[];
  /** sendAt=best: what was chosen and what it is worth (undefined: the learner had nothing to go by) */
  best?: BestTime;
  /** what each channel's send is expected to cost this recipient */
  costing: Costing;
}

/** What a provider is asked to send for this notification (now, or at `at`). */
const sendRequest = (deps: Deps, input: NotifyInput, start: Start, at?: Date): SendRequest => ({
  notificationId: input.notificationId,
  userId: input.userId,
  content: input.content,
  baseUrl: deps.baseUrl,
  at,
  ...(start.whatsappInboundAt ? { whatsappWindowUntil: Date.parse(start.whatsappInboundAt) + WHATSAPP_WINDOW_MS } : {}),
});

/** Decides the channel, plans the journey and sends (or schedules) its first step, falling back on refusals. */
async function sendFirstStep(deps: Deps, input: NotifyInput, start: Start, now: Date): Promise<FirstStep> {
  const { profile, knowledge } = start;
  const size = segmentsOf(input.content.message);
  const costing = await costingOf(deps, input, start.profile, start.prices);
  const { choice, sent, refusals } = await sendWithFallback({
    fallback: !input.channel,
    pick: (refusals) => {
      const options = {
        now,
        at: input.sendAt,
        scheduled: Boolean(input.sendAt),
        explicitList: Array.isArray(input.escalation),
        refusals,
        knowledge,
        holdout: start.assignment.holdout,
        worth: costing.worth,
      };
      // sendAt=best: the channel and the time first (among what this request may still use), then
      // routed and planned as a send at that time
      const best = input.bestWithinMs !== undefined ? chooseBestTime(deps, input, profile, options) : undefined;
      const timed = best ? { ...input, sendAt: best.at } : input;
      const route = decideRoute(timed, profile, deps.config, {
        ...options,
        at: timed.sendAt,
        scheduled: Boolean(timed.sendAt),
        chosen: best?.channel,
      });
      const plan = planJourney(timed, route, deps.config, now);
      const sms = plan.steps.some((s) => s.channel === 'SMS') ? size : undefined;
      const warning = sms && smsSizeWarning(sms, deps.config);
      const channel = plan.steps[0].channel;
      return { channel, route: { ...route, channel }, plan, sms, best, warnings: warning ? [warning] : [] };
    },
    send: ({ route, plan }) =>
      CHANNEL_OPS[route.channel].send(deps, route, sendRequest(deps, input, start, plan.steps[0].at)),
    onRefused: (r) =>
      log.warn('channel refused, falling back', {
        notification: input.notificationId,
        channel: r.channel,
        code: r.providerCode,
      }),
  });
  const { route, plan, sms, warnings, best } = choice;
  if (route.objective === 'engagement' && costing.worth && !start.assignment.holdout)
    warnings.push(engagementWhy(costing, route.reach.reachable));
  return { route, plan, sent, refusals, sms, warnings, best, costing };
}

/**
 * sendAt=best: the learner's pick of channel and time within the request's window (best-time.ts).
 * Without time-aware evidence (ROUTING_TIME_BANDS off, the trait policy, the store unavailable)
 * there is nothing to choose a time by: it sends now, routed as usual, and the answer says so.
 */
function chooseBestTime(
  deps: Deps,
  input: NotifyInput,
  profile: Start['profile'],
  options: RouteOptions,
): BestTime | undefined {
  const knowledge = options.knowledge;
  // the holdout is routed by its baseline, which has no notion of time: it sends now, as before the learner
  if (deps.config.routingPolicy !== 'learned' || options.holdout || !knowledge?.bands || !knowledge.effects)
    return undefined;
  const base = decideRoute(input, profile, deps.config, { ...options, at: undefined, scheduled: true });
  const refused = new Set((options.refusals ?? []).map((r) => r.channel));
  const channels = (input.channel ? [input.channel] : base.reach.reachable).filter(
    (c) => base.reach.reachable.includes(c) && !refused.has(c),
  );
  const now = options.now.getTime();
  const halfLifeDays = deps.config.evidenceHalfLifeDays;
  const overall = posteriors(channels, knowledge.priors, knowledge.evidence, {
    now,
    halfLifeDays,
    trait: base.preferred,
  });
  const best = bestTime({
    now,
    withinMs: input.bestWithinMs ?? DEFAULT_WITHIN_MS,
    timezone: base.timezone,
    quiet: base.quiet,
    channels,
    canScheduleSms: Boolean(deps.config.messagingServiceSid),
    overall,
    evidence: knowledge.evidence,
    bands: knowledge.bands,
    recent: knowledge.recent,
    effects: knowledge.effects,
    habits: knowledge.habits,
    halfLifeDays,
    worth: options.worth && costsKnown(options.worth, channels) ? options.worth : undefined,
  });
  if (!best) {
    const why = `no time within the window when ${channels.join(' or ') || 'a reachable channel'} may go out (quiet hours, scheduling windows)`;
    throw new DomainError('cannot_schedule', why, 'within');
  }
  return best;
}

/** The record's steps: the first as sent or scheduled, later SMS/email scheduled now, later calls pending. */
async function scheduleLaterSteps(deps: Deps, input: NotifyInput, first: FirstStep, start: Start): Promise<Step[]> {
  const at = currentDate().toISOString();
  const [head, ...later] = first.plan.steps;
  const bandOf = (due?: Date) => bandAt(due ? due.getTime() : Date.parse(at), first.route.timezone);
  const firstStep: Step = {
    channel: head.channel,
    status: head.at ? 'SCHEDULED' : 'SENT',
    providerId: first.sent.providerId,
    scheduledAt: head.at?.toISOString(),
    batchId: first.sent.batchId,
    updatedAt: at,
    band: bandOf(head.at),
    ...costField(first.costing, head.channel),
  };
  const laterSteps = await Promise.all(
    later.map(async (p): Promise<Step> => {
      const base = {
        channel: p.channel,
        scheduledAt: p.at?.toISOString(),
        updatedAt: at,
        band: bandOf(p.at),
        ...costField(first.costing, p.channel),
      };
      if (p.channel === 'CALL') return { ...base, status: 'PENDING' };
      const request = sendRequest(deps, input, start, p.at);
      try {
        // no later callback or retry would schedule it: a short outage is waited out here
        const sent = await retryWithin(
          deps.deadline,
          () => CHANNEL_OPS[p.channel].send(deps, first.route, request),
          [300, 700],
          2000,
          (err) => !(err instanceof ChannelRefused),
        );
        return { ...base, status: 'SCHEDULED', providerId: sent.providerId, batchId: sent.batchId };
      } catch (err) {
        if (err instanceof ChannelRefused) {
          log.error('escalation step refused', {
            notification: input.notificationId,
            channel: p.channel,
            error: err.why,
          });
          return { ...base, status: 'FAILED', error: err.why };
        }
        // an outage that outlasted the retries: kept for recovery, which schedules it once the provider answers
        log.warn('escalation step not scheduled yet; kept for recovery', {
          notification: input.notificationId,
          channel: p.channel,
          error: errorText(err),
        });
        return { ...base, status: 'PENDING', unscheduled: true, error: `not scheduled yet: ${errorText(err)}` };
      }
    }),
  );
  return [firstStep, ...laterSteps];
}

/** A step's expected cost, when known. */
const costField = (costing: Costing, channel: Channel) => {
  const cost = costing.costs[channel];
  return cost === undefined ? {} : { cost };
};

/** /notify's answer to a notification it sent or scheduled (also kept in the record, and replayed to duplicates). */
export interface NotifyAnswer extends Partial<SmsSize> {
  notificationId: string;
  userId: string;
  channel: Channel;
  reason: Route['reason'];
  policy: Route['policy'];
  group: Group;
  holdout?: true;
  /** the band of the user's day the channel was chosen for (with ROUTING_TIME_BANDS on) */
  band?: Band;
  status: 'scheduled' | 'sent';
  providerId?: string;
  /** when the first step goes out (scheduled; with sendAt=best, null: now) */
  sendAt?: string | null;
  /** sendAt=best: the chosen time's expected engagement, and now's */
  expected?: number | null;
  expectedNow?: number | null;
  bestTime?: string;
  evidence?: 'unavailable';
  /** the first step's expected cost (null: its price is unknown), an estimate in `currency` */
  cost: number | null;
  currency: string;
  /** asked to route for value: whether it did (route.ts) */
  objective?: Route['objective'];
  steps?: Array<ReturnType<typeof stepView>>;
  skipped?: Plan['skipped'];
  quietHours?: Plan['quietHours'];
  warnings?: string[];
}

function answerOf(input: NotifyInput, first: FirstStep, steps: Step[], start: Start): NotifyAnswer {
  const { route, plan, sent } = first;
  const at = plan.steps[0].at;
  return {
    notificationId: input.notificationId,
    userId: input.userId,
    channel: route.channel,
    reason: route.reason,
    policy: route.policy,
    group: start.assignment.group,
    ...(start.assignment.holdout ? { holdout: true } : {}),
    // the band of the user's day the channel was chosen for (with ROUTING_TIME_BANDS on)
    ...(route.band ? { band: route.band } : {}),
    // sendAt=best: what was chosen and why: the time (null: now), its expected engagement, and the best of now
    ...(input.bestWithinMs !== undefined
      ? first.best
        ? {
            sendAt: at?.toISOString() ?? null,
            expected: first.best.expected,
            expectedNow: first.best.expectedNow ?? null,
          }
        : { sendAt: null, expected: null, expectedNow: null, bestTime: 'no time-aware evidence to choose by: sent now' }
      : {}),
    ...(start.evidence === 'unavailable' ? { evidence: 'unavailable' } : {}),
    status: at ? 'scheduled' : 'sent',
    providerId: sent.providerId,
    cost: steps[0].cost ?? null,
    currency: first.costing.unit.currency,
    ...(route.objective ? { objective: route.objective } : {}),
    ...(at ? { sendAt: at.toISOString() } : {}),
    ...first.sms,
    ...(steps.length > 1 ? { steps: steps.map(stepView) } : {}),
    ...(Object.keys(plan.skipped).length ? { skipped: plan.skipped } : {}),
    ...(plan.quietHours ? { quietHours: plan.quietHours } : {}),
    ...(first.warnings.length ? { warnings: first.warnings } : {}),
  };
}

/** The last stage, concurrently: Segment (or the record, when Segment fails), the final record, the contact. */
async function recordAndTrack(
  deps: Deps,
  input: NotifyInput,
  first: FirstStep,
  steps: Step[],
  result: NotifyAnswer,
  start: Start,
): Promise<'ok' | 'deferred'> {
  const { route } = first;
  const phone = route.phone;
  const grouped = groupProperties({ ...start.assignment, policy: route.policy });
  const events = [
    ...first.refusals.flatMap((r) => refusalEvents(input, r, grouped)),
    ...sentEvents(input, first, steps, grouped),
  ];
  const finalWrite = (r: NotificationRecord) => {
    r.state = 'done';
    r.reason = route.reason;
    r.policy = route.policy;
    r.group = start.assignment.group;
    r.steps = steps;
    if (steps.length > 1) {
      r.escalateAfter = input.escalateAfter;
      r.content = input.content;
      r.journey = {
        to: { phone, email: route.email, ...(route.whatsapp ? { whatsapp: route.whatsapp } : {}) },
        urgent: input.urgent,
        quietHours: route.quiet?.text,
        timezone: route.timezone,
      };
    }
    r.result = { ...result }; // the record keeps it as plain JSON (the store knows no endpoint's types)
    return true;
  };
  const contact = {
    userId: input.userId,
    notificationId: input.notificationId,
    updatedAt: currentDate().toISOString(),
  };
  const contactFound = phone === input.phone ? start.contactFound : undefined;
  // a WhatsApp reply is credited as an SMS one is: the WhatsApp number's contact, its window kept
  const whatsapp = route.whatsapp;
  const whatsappContact =
    whatsapp && whatsapp !== phone && steps.some((s) => s.channel === 'WHATSAPP')
      ? retryWithin(deps.deadline, () =>
          deps.store.writeContact(whatsapp, {
            ...contact,
            ...(start.whatsappInboundAt ? { whatsappInboundAt: start.whatsappInboundAt } : {}),
          }),
        )
      : undefined;
  const phoneContact = {
    ...contact,
    ...(phone === input.phone && start.phoneWhatsappInboundAt
      ? { whatsappInboundAt: start.phoneWhatsappInboundAt }
      : {}),
  };
  // Both are retried within the deadline: a record left in_progress would hold every callback up,
  // a missing contact would make the recipient's reply anonymous.
  const [tracked, stored] = await Promise.allSettled([
    trackOrDefer(deps.config, deps.store, input.notificationId, events, deps.upstream),
    updateRecordWithin(deps, input.notificationId, start, finalWrite),
    phone && steps.some((s) => s.channel !== 'EMAIL')
      ? retryWithin(deps.deadline, () => deps.store.writeContact(phone, phoneContact, contactFound))
      : Promise.resolve(),
    whatsappContact,
    recordSent(deps, input, steps, start, first.route),
    start.slot && 'freeing' in start.slot ? start.slot.freeing : undefined, // extra slots taken in the first stage
  ]);
  if (stored.status === 'rejected') {
    const error = (stored.reason as Error).message;
    log.error('notification record not updated', { notification: input.notificationId, error });
  } else if (steps.some((s) => s.unscheduled)) {
    // listed only once the record holds the step: a sweep that read the record before would unlist it
    await retryWithin(deps.deadline, () => deps.store.outbox.add(input.notificationId)).catch((err) =>
      log.error('a step kept for recovery is not listed in the outbox', {
        notification: input.notificationId,
        error: errorText(err),
      }),
    );
  }
  return tracked.status === 'fulfilled' ? tracked.value : 'deferred';
}

/**
 * What the learner tried: a step sent now, written over the evidence read in the first stage (no
 * read of its own), counted once per notification and channel whoever retries. A scheduled step
 * counts when its provider reports it sent (webhooks). When the store refuses, it is kept in the
 * record for recovery.
 */
async function recordSent(deps: Deps, input: NotifyInput, steps: Step[], start: Start, route: Route): Promise<void> {
  const counted = { notificationId: input.notificationId, group: start.assignment.group, day: start.day };
  // what the models forecast for the routed channel, scored by its outcome (routing/habits.ts's trustOf)
  const predicted = (channel: Step['channel']) =>
    route.predicted && channel === route.channel ? { predicted: route.predicted } : {};
  const tried: Observation[] = [
    // the notification itself, once, for /insights (sent or scheduled, its first channel)
    { ...counted, channel: steps[0].channel, kind: 'notified' },
    ...steps
      .filter((s) => s.status === 'SENT')
      .map((s) => ({
        ...counted,
        channel: s.channel,
        kind: 'sent' as const,
        band: s.band,
        cost: s.cost,
        ...predicted(s.channel),
      })),
  ];
  let snapshot = start.snapshot;
  const count = () =>
    retryWithin(deps.deadline, () => {
      const known = snapshot;
      snapshot = undefined; // after a failure, read again: the write may have landed
      return deps.evidence.record(input.userId, tried, { snapshot: known, habits: start.knowledge?.habits });
    });
  await countOrKeep(deps, input.userId, tried, { storeDown: start.evidence === 'unavailable', count }).catch((e) =>
    log.error('evidence of a send lost', { notification: input.notificationId, error: errorText(e) }),
  );
}

function sentEvents(
  input: NotifyInput,
  first: FirstStep,
  steps: Step[],
  grouped: Record<string, unknown>,
): SegmentMessage[] {
  const { route } = first;
  const events: SegmentMessage[] = [
    identifyMessage({ userId: input.userId }, messageId('identify', input.notificationId), {
      phone: route.phone,
      email: route.email,
      whatsapp: route.whatsapp,
      firstName: input.content.firstName,
      lastName: input.content.lastName,
      language: input.locale,
    }),
  ];
  for (const s of steps) {
    const sms = s.channel === 'SMS' ? first.sms : undefined;
    const cost = costProperties(s.cost, first.costing.unit.currency);
    const props = {
      reason: route.reason,
      provider_id: s.providerId,
      locale: input.locale,
      ...sms,
      ...cost,
      ...grouped,
    };
    if (s.status === 'SENT') events.push(sentMessage(input.userId, input.notificationId, s.channel, props));
    if (s.status === 'SCHEDULED') {
      const id = messageId('scheduled', input.notificationId, s.channel);
      const scheduled = { channel: s.channel, notification_id: input.notificationId, ...props, send_at: s.scheduledAt };
      events.push(trackMessage({ userId: input.userId }, 'Notification Scheduled', id, scheduled));
    }
  }
  return events;
}

/** A refusal marks the channel unreachable for this user: an opt-out event, and the trait routing reads. */
function refusalEvents(
  input: NotifyInput,
  refusal: ChannelRefused,
  grouped: Record<string, unknown>,
): SegmentMessage[] {
  const who = { userId: input.userId };
  const events = [
    identifyMessage(who, messageId('identify-refused', input.notificationId, refusal.channel), refusal.traits),
  ];
  if (refusal.optedOut) {
    const id = messageId('opted-out', input.notificationId, refusal.channel);
    const props = {
      channel: refusal.channel,
      notification_id: input.notificationId,
      error_code: refusal.providerCode,
      ...grouped,
    };
    events.unshift(trackMessage(who, 'Notification Opted Out', id, props));
  }
  return events;
}

/** What a failed first send is, to the caller. */
function asDomainError(err: unknown): unknown {
  if (err instanceof ChannelRefused && err.providerCode === 'template_required')
    return new DomainError('template_required', err.message, 'template');
  if (err instanceof ChannelRefused) return new DomainError('channel_refused', err.message, 'channel');
  if (err instanceof DomainError) return err;
  const upstream = upstreamFailure(err);
  // Throttled past what this invocation could wait: 429, so callers (the campaign CLI) back off.
  if (upstream?.code === 'rate_limited') return upstream;
  const code = twilioErrorCode(err);
  const message = `the provider refused the send${code ? ` (error ${code})` : ''}`;
  return new DomainError('upstream_error', message, undefined, code ? { provider_code: code } : undefined);
}
