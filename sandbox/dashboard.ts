/**
 * What the dashboard (GET /) shows, as one JSON snapshot built from the
 * sandbox's state: the notifications (their Sync records, what each provider
 * received, the callbacks that came back), Segment's events (with the ones
 * dropped as duplicates), and per user the learner's evidence and the
 * profile traits. The page polls it; `version` changes whenever state does.
 */
import { createHash } from 'node:crypto';
import { DEAD_LETTERS_DOCUMENT } from '../src/lib/store/dead-letters';
import { type Channel, CHANNELS } from '../src/lib/channel-list';
import { BANDS, type BandEvidence, bandEffectsOf, bandPosteriors } from '../src/lib/routing/bands';
import {
  addSums,
  bestChannel,
  type Evidence,
  type PopulationSums,
  posteriors,
  priorsOf,
  scoresOf,
  sumsOf,
} from '../src/lib/routing/learn';
import type { Recorded, SandboxState } from './state';

const SHOWN = 150;

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const notificationOfUrl = (url: unknown) => {
  try {
    return new URL(String(url)).searchParams.get('notificationId') ?? undefined;
  } catch {
    return undefined;
  }
};

/** The words of a call's TwiML <Say>, as a person hears them. */
function spoken(twiml: unknown): string | undefined {
  const said = [...String(twiml ?? '').matchAll(/<Say[^>]*>([\s\S]*?)<\/Say>/g)].map((m) => m[1]);
  return said.length ? said.join(' ').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>') : undefined;
}

interface Received {
  channel: Channel;
  to?: string;
  text?: string;
  subject?: string;
  status?: string;
  at?: string;
}

function received(state: SandboxState): Map<string, Received[]> {
  const byNotification = new Map<string, Received[]>();
  const add = (id: string | undefined, r: Received) => {
    if (!id) return;
    byNotification.set(id, [...(byNotification.get(id) ?? []), r]);
  };
  const status = (m: Recorded) => str((m.resource as Record<string, unknown>).status);
  for (const m of state.messages)
    add(notificationOfUrl(m.request.StatusCallback), {
      channel: 'SMS',
      to: str(m.request.To),
      text: str(m.request.Body),
      status: status(m),
      at: str((m.resource as Record<string, unknown>).date_created),
    });
  for (const c of state.calls)
    add(notificationOfUrl(c.request.StatusCallback), {
      channel: 'CALL',
      to: str(c.request.To),
      text: spoken(c.request.Twiml),
      status: status(c),
    });
  for (const e of state.emails) {
    const req = e.request as {
      subject?: string;
      personalizations?: Array<{ to?: Array<{ email?: string }> }>;
      content?: Array<{ type?: string; value?: string }>;
      custom_args?: Record<string, string>;
    };
    add(req.custom_args?.notification_id, {
      channel: 'EMAIL',
      to: req.personalizations?.[0]?.to?.[0]?.email,
      subject: req.subject,
      text: req.content?.find((c) => c.type === 'text/plain')?.value,
      status: e.schedule.status,
    });
  }
  return byNotification;
}

/**
 * The snapshot; only `{version, unchanged: true}` when the page already has this version
 * (it polls every 0.7 s: most polls then cost a version, not a snapshot).
 */
export function dashboardSnapshot(state: SandboxState, since?: string) {
  const version = versionOf(state);
  if (since === version) return { version, unchanged: true };
  const docs = [...state.syncDocuments.values()];
  const records = docs
    .filter((d) => d.unique_name?.startsWith('notification-'))
    .map((d) => d.data as Record<string, unknown>)
    .sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)))
    .slice(0, SHOWN);
  const providers = received(state);
  // an incoming SMS carries no notification id: it belongs to the latest SMS or call sent to its number
  const lastToNumber = new Map<string, string>();
  for (const m of [...state.messages, ...state.calls]) {
    const id = notificationOfUrl(m.request.StatusCallback);
    const to = str(m.request.To);
    if (id && to) lastToNumber.set(to, id);
  }
  const callbacks = new Map<
    string,
    Array<{ kind: string; status: number | 'error' | 'dropped'; at: string; what?: string }>
  >();
  for (const cb of state.callbacks) {
    const p = cb.params as Record<string, unknown>;
    const events = Array.isArray(p.events) ? (p.events as Array<Record<string, unknown>>) : undefined;
    const ids = events
      ? events.map((e) => str(e.notification_id))
      : [notificationOfUrl(cb.url) ?? str(p.notificationId) ?? lastToNumber.get(str(p.From) ?? '')];
    const what = events
      ? events.map((e) => e.event).join(', ')
      : (str(p.MessageStatus) ?? str(p.CallStatus) ?? str(p.Digits) ?? str(p.Body));
    for (const id of new Set(ids)) {
      if (!id) continue;
      callbacks.set(id, [...(callbacks.get(id) ?? []), { kind: cb.kind, status: cb.status, at: cb.at, what }]);
    }
  }
  const notifications = records.map((r) => ({
    notificationId: r.notificationId,
    userId: r.userId,
    createdAt: r.createdAt,
    state: r.state,
    reason: r.reason,
    policy: r.policy,
    group: r.group,
    steps: r.steps,
    received: providers.get(String(r.notificationId)) ?? [],
    callbacks: callbacks.get(String(r.notificationId)) ?? [],
  }));

  // per user: the learner's evidence (documents are named by a hash of the user id), what it expects of each
  // channel (the same posterior /channel answers: the population prior from the prior lists' deltas), and the traits
  let sums: PopulationSums = {};
  for (const list of state.syncLists.values())
    if (list.unique_name?.startsWith('prior-')) for (const item of list.items) sums = addSums(sums, sumsOf(item.data));
  const priors = priorsOf(sums);
  const effects = bandEffectsOf(sums);
  const halfLifeDays = Number(process.env.EVIDENCE_HALF_LIFE_DAYS) || 30;
  const userIds = new Set<string>([...records.map((r) => String(r.userId)), ...state.profileTraits.keys()]);
  const evidenceByName = new Map(
    docs.filter((d) => d.unique_name?.startsWith('evidence-')).map((d) => [d.unique_name, d.data]),
  );
  const users = [...userIds].slice(0, SHOWN).map((userId) => {
    const name = `evidence-${createHash('sha256').update(userId).digest('hex').slice(0, 40)}`;
    const doc = evidenceByName.get(name) as { channels?: Evidence; bands?: BandEvidence } | undefined;
    const evidence = doc?.channels ?? {};
    const o = { now: state.clock.now(), halfLifeDays };
    const post = posteriors(CHANNELS, priors, evidence, o);
    const scores = scoresOf(post);
    // expected engagement by channel in each band of the user's day: the dashboard's heat map
    const byBand = Object.fromEntries(
      BANDS.map((b) => {
        const inBand = bandPosteriors(post, evidence, doc?.bands ?? {}, effects, b, o);
        return [b, Object.fromEntries(CHANNELS.map((c) => [c, inBand[c]?.score.expected ?? null]))];
      }),
    );
    return {
      userId,
      evidence: Object.fromEntries(CHANNELS.map((c) => [c, scores[c]])),
      best: bestChannel(post),
      byBand,
      traits: state.profileTraits.get(userId) ?? {},
    };
  });

  const dropped = state.segmentRejected
    .filter((r) => r.reason.includes('duplicate'))
    .map((r) => r.payload as { messageId?: string; event?: string });
  const segment = state.segmentEvents
    .slice(-SHOWN)
    .reverse()
    .map((e) => ({
      type: e.type,
      event: e.event,
      userId: e.userId,
      messageId: e.messageId,
      channel: (e.properties as Record<string, unknown> | undefined)?.channel,
    }));
  return {
    version,
    clock: state.clock.date().toISOString(),
    simulate: state.simulate,
    notifications,
    users,
    segment,
    duplicates: dropped.slice(-SHOWN).map(({ messageId, event }) => ({ messageId, event })),
    duplicateCount: new Set(dropped.map((d) => d.messageId)).size,
    // parcels recovery gave up on (src/lib/store/dead-letters.ts)
    deadLetters:
      (docs.find((d) => d.unique_name === DEAD_LETTERS_DOCUMENT)?.data as { entries?: unknown[] } | undefined)
        ?.entries ?? [],
    contacts: Object.fromEntries(state.contacts),
    faults: Object.fromEntries(state.faults),
  };
}

/** Changes whenever anything the page shows does (cheap: counts and the clock). */
function versionOf(state: SandboxState): string {
  const revisions = [...state.syncDocuments.values()].reduce((n, d) => n + Number(d.revision) + 1, 0);
  return [
    state.messages.length,
    state.calls.length,
    state.emails.length,
    state.callbacks.length,
    state.segmentEvents.length,
    state.segmentRejected.length,
    revisions,
    state.contacts.size,
    state.faults.size,
    state.clock.now() - Date.now() > 1000 ? Math.round((state.clock.now() - Date.now()) / 1000) : 0,
  ].join('.');
}
