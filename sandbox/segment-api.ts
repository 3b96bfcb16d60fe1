/**
 * Segment: the HTTP Tracking API (track, identify, batch) and the Profile API
 * with a "Most frequent" computed trait over Notification Engaged events.
 */
import { basicAuth, isObject, type Json, type Router, type SandboxRequest, type SandboxResponse } from './http';
import { randomUUID } from 'node:crypto';
import type { SandboxSettings } from './settings';
import type { SandboxState } from './state';

const MAX_EVENT_BYTES = 32 * 1024;
const MAX_BATCH_BYTES = 500 * 1024;
const DEDUP_WINDOW_MS = 24 * 3600 * 1000;
/** Segment's computed-trait settings this sandbox mirrors. */
export const COMPUTED_TRAIT = { event: 'Notification Engaged', property: 'channel', minimumFrequency: 3 };

/** "Most frequent" computed trait: the most frequent value seen at least `minimum` times, ties to the first alphabetically. */
export function mostFrequent(values: string[], minimum: number): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  const ranked = [...counts]
    .filter(([, n]) => n >= minimum)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return ranked[0]?.[0];
}

export function registerSegmentApi(router: Router, state: SandboxState, settings: SandboxSettings): void {
  /** Accepts one event as Segment would: dropped (still 200) when unattributable or a duplicate. */
  function accept(type: string, raw: Json, batchContext?: unknown): void {
    const event: Json = { ...raw, type };
    if (batchContext && !event.context) event.context = batchContext;
    if (typeof event.userId !== 'string' && typeof event.anonymousId !== 'string') {
      state.segmentRejected.push({ reason: 'userId or anonymousId is required', payload: event });
      return;
    }
    if (type === 'track' && (typeof event.event !== 'string' || event.event === '')) {
      state.segmentRejected.push({ reason: 'track requires an event name', payload: event });
      return;
    }
    const messageId = typeof event.messageId === 'string' ? event.messageId : `sandbox-${randomUUID()}`;
    event.messageId = messageId;
    const seen = state.segmentMessageIds.get(messageId);
    if (seen !== undefined && state.clock.now() - seen < DEDUP_WINDOW_MS) {
      state.segmentRejected.push({ reason: 'duplicate messageId', payload: event });
      return;
    }
    state.segmentMessageIds.set(messageId, state.clock.now());
    event.receivedAt = state.clock.date().toISOString();
    state.segmentEvents.push(event);
    if (type === 'identify' && typeof event.userId === 'string' && isObject(event.traits)) {
      state.profileTraits.set(event.userId, { ...(state.profileTraits.get(event.userId) ?? {}), ...event.traits });
    }
  }

  function tracking(type: 'track' | 'identify' | 'batch') {
    return (req: SandboxRequest): SandboxResponse => {
      const size = Buffer.byteLength(req.rawBody);
      if (req.jsonError || !isObject(req.json))
        return { status: 400, body: { success: false, message: 'Invalid JSON' } };
      const body = req.json;
      const creds = basicAuth(req);
      const writeKey = creds?.user ?? (typeof body.writeKey === 'string' ? body.writeKey : undefined);
      if (type === 'batch') {
        if (size > MAX_BATCH_BYTES) return { status: 400, body: { success: false, message: 'Batch exceeds 500KB' } };
        if (!Array.isArray(body.batch))
          return { status: 400, body: { success: false, message: 'batch must be an array' } };
        const oversized = body.batch.find((e) => Buffer.byteLength(JSON.stringify(e)) > MAX_EVENT_BYTES);
        if (oversized) return { status: 400, body: { success: false, message: 'Event exceeds 32KB' } };
      } else if (size > MAX_EVENT_BYTES) {
        return { status: 400, body: { success: false, message: 'Event exceeds 32KB' } };
      }
      // Segment answers 200 to a wrong write key and drops the data.
      if (writeKey !== settings.segmentWriteKey) {
        state.segmentRejected.push({ reason: 'invalid write key', payload: body });
        return { status: 200, body: { success: true } };
      }
      if (type === 'batch') {
        for (const item of body.batch as unknown[]) {
          if (isObject(item) && typeof item.type === 'string') accept(item.type, item, body.context);
          else state.segmentRejected.push({ reason: 'batch item without type', payload: item });
        }
      } else {
        accept(type, body);
      }
      return { status: 200, body: { success: true } };
    };
  }

  router.on('POST', '/v1/track', tracking('track'));
  router.on('POST', '/v1/identify', tracking('identify'));
  router.on('POST', '/v1/batch', tracking('batch'));

  /** The userId a Profile API id (`user_id:…`, `email:…`, `phone:…`) refers to. */
  function resolveUser(kind: string, value: string): string | undefined {
    if (kind === 'user_id') {
      const known = state.profileTraits.has(value) || state.segmentEvents.some((e) => e.userId === value);
      return known ? value : undefined;
    }
    if (kind === 'email' || kind === 'phone') {
      const want = kind === 'email' ? value.toLowerCase() : value;
      for (const [userId, traits] of state.profileTraits) {
        const have = traits[kind];
        if (typeof have === 'string' && (kind === 'email' ? have.toLowerCase() : have) === want) return userId;
      }
    }
    return undefined;
  }

  /** The computed trait's value for a user, or undefined below the minimum frequency. */
  function computedTrait(userId: string): string | undefined {
    const values = state.segmentEvents
      .filter((e) => e.type === 'track' && e.event === COMPUTED_TRAIT.event && e.userId === userId)
      .map((e) => (isObject(e.properties) ? e.properties[COMPUTED_TRAIT.property] : undefined))
      .filter((v): v is string => typeof v === 'string');
    return mostFrequent(values, COMPUTED_TRAIT.minimumFrequency);
  }

  router.on('GET', '/v1/spaces/:space/collections/users/profiles/:id/traits', (req) => {
    const creds = basicAuth(req);
    if (!creds || creds.user !== settings.segmentProfileApiToken) {
      return {
        status: 401,
        body: { error: { code: 'unauthorized', message: 'The access token is missing or invalid' } },
      };
    }
    if (req.params.space !== settings.segmentSpaceId) {
      return { status: 404, body: { error: { code: 'not_found', message: `Space ${req.params.space} not found` } } };
    }
    // A raw "+" in the path is a space to Segment: phone numbers must be sent as %2B.
    const id = decodeURIComponent(req.rawParams.id.replace(/\+/g, ' '));
    const sep = id.indexOf(':');
    const kind = sep < 0 ? '' : id.slice(0, sep);
    const userId = sep < 0 ? undefined : resolveUser(kind, id.slice(sep + 1));
    if (!userId) return { status: 404, body: { error: { code: 'not_found', message: 'Profile not found' } } };
    const traits: Json = { ...(state.profileTraits.get(userId) ?? {}) };
    // Segment computes the trait only once it is defined in the space (account.ts; setup defines it)
    const defined = state.account.computedTraits.some((t) => t.key === settings.preferredChannelTrait && t.enabled);
    const computed = defined ? computedTrait(userId) : undefined;
    if (computed !== undefined) traits[settings.preferredChannelTrait] = computed;
    const include = req.query
      .get('include')
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const limit = Math.min(Number(req.query.get('limit') ?? 10) || 10, 200);
    const names = Object.keys(traits)
      .filter((k) => !include || include.includes(k))
      .sort();
    const page = Object.fromEntries(names.slice(0, limit).map((k) => [k, traits[k]]));
    const hasMore = names.length > limit;
    return {
      status: 200,
      body: { traits: page, cursor: { url: req.path, has_more: hasMore, next: hasMore ? names[limit] : '' } },
    };
  });
}
