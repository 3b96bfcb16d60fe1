/** Talking to the running stack (functions under twilio-run, and the sandbox) from tests. */
import { openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pLimit from 'p-limit';
import twilio from 'twilio';
import { freePort, launchLocal } from '../sandbox/launch';
import { eventBatchBody, SANDBOX_SIGNING_KEYS, signatureHeaders } from '../sandbox/sendgrid-signing';
import { SANDBOX_DEFAULTS } from '../sandbox/settings';
import { emailBinding } from '../src/lib/channels/email';
import type { ContactBehaviour } from '../sandbox/state';
import { LOG_FILE, STACK_FILE } from './setup/paths';

export const stack: StackUrls = JSON.parse(readFileSync(STACK_FILE, 'utf8'));
export const API_KEY = SANDBOX_DEFAULTS.NOTIFY_API_KEY;
export const AUTH_TOKEN = SANDBOX_DEFAULTS.AUTH_TOKEN;

export interface Answer<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // TwiML or empty
  }
  return { status: res.status, body, text, headers: res.headers };
}

export interface SegmentEvent {
  type: string;
  event?: string;
  userId?: string;
  anonymousId?: string;
  messageId: string;
  properties?: Record<string, any>;
  traits?: Record<string, any>;
  context?: Record<string, any>;
}

/**
 * A stack of a test's own (beside the suite's shared one), for settings the shared one cannot
 * have; `env` may use its functions' port. Its output goes to the log the log-masking test reads.
 */
export async function ownStack(env: (functionsPort: number) => Record<string, string>) {
  const [functionsPort, sandboxPort] = [await freePort(), await freePort()];
  const local = await launchLocal({
    root: join(__dirname, '..'),
    functionsPort,
    sandboxPort,
    stdio: openSync(LOG_FILE, 'a'),
    env: env(functionsPort),
  });
  return {
    stop: local.stop,
    twilioRunPort: local.twilioRunPort,
    ...clientOf({ functionsUrl: local.functionsUrl, sandboxUrl: local.sandboxUrl as string }),
  };
}

/** Waits until `check` holds (work a recovery completes after an answer), failing after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const bearer = { Authorization: `Bearer ${API_KEY}` };

/** Moves a stack's sandbox clock forward to the next `hour`:00 in Tokyo (UTC+9). */
export async function advanceToTokyoHour(c: Pick<ReturnType<typeof clientOf>, 'sandbox'>, hour: number) {
  const tokyo = new Date(Date.parse((await c.sandbox.status()).clock) + 9 * 3_600_000);
  let ahead = ((hour - tokyo.getUTCHours() + 24) % 24) * 3600 - tokyo.getUTCMinutes() * 60 - tokyo.getUTCSeconds();
  if (ahead <= 0) ahead += 24 * 3600;
  await c.sandbox.advance(ahead);
}

/** An event as /notify's emails have SendGrid send it: bound to its notification and user. */
export function boundEvent(e: unknown): unknown {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return e;
  const { notification_id: n, user_id: u } = e as Record<string, unknown>;
  if ('binding' in e || typeof n !== 'string' || typeof u !== 'string') return e;
  return { ...e, binding: emailBinding(AUTH_TOKEN, n, u) };
}

export interface StackUrls {
  functionsUrl: string;
  sandboxUrl: string;
}

/** Calls to one running stack (the suite's shared one, or a test's own). */
export function clientOf(urls: StackUrls) {
  async function call(
    method: string,
    path: string,
    opts: { json?: unknown; form?: Record<string, string>; headers?: Record<string, string>; raw?: string } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    let body: string | undefined;
    if (opts.json !== undefined) {
      headers['Content-Type'] ??= 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.form) {
      headers['Content-Type'] ??= 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    } else if (opts.raw !== undefined) {
      body = opts.raw;
    }
    return answer(await fetch(`${urls.functionsUrl}${path}`, { method, headers, body }));
  }

  const notify = (params: Record<string, unknown>) => call('POST', '/notify', { json: params, headers: bearer });

  /** POSTs form fields to a Twilio webhook, signed as Twilio signs (URL with query + fields). */
  const signedPost = (pathWithQuery: string, fields: Record<string, string>, token = AUTH_TOKEN) => {
    const signature = twilio.getExpectedTwilioSignature(token, `${urls.functionsUrl}${pathWithQuery}`, fields);
    return call('POST', pathWithQuery, { form: fields, headers: { 'X-Twilio-Signature': signature } });
  };

  /**
   * POSTs an Event Webhook batch as SendGrid does: Basic credentials, SendGrid's body layout and
   * the sandbox webhook's signature; each event naming a notification and user carries their
   * binding, as /notify's emails do, unless it has a `binding` of its own or `bind` is false.
   */
  const emailEvents = (
    events: unknown,
    auth = `${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_USERNAME}:${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_PASSWORD}`,
    opts: { sign?: boolean; bind?: boolean } = {},
  ) => {
    const batch = Array.isArray(events) && opts.bind !== false ? events.map(boundEvent) : events;
    const raw = Array.isArray(batch) ? eventBatchBody(batch) : JSON.stringify(batch);
    const signature =
      opts.sign === false ? {} : signatureHeaders(SANDBOX_SIGNING_KEYS, raw, Math.floor(Date.now() / 1000));
    return call('POST', '/email/events', {
      raw,
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Basic ${Buffer.from(auth).toString('base64')}`,
        ...signature,
      },
    });
  };

  async function sb(method: string, path: string, json?: unknown): Promise<any> {
    const res = await fetch(`${urls.sandboxUrl}${path}`, {
      method,
      headers: json === undefined ? {} : { 'Content-Type': 'application/json' },
      body: json === undefined ? undefined : JSON.stringify(json),
    });
    if (!res.ok) throw new Error(`sandbox ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  }

  const sandbox = {
    reset: (simulate = true) => sb('POST', '/sandbox/reset', { simulate }),
    contact: (address: string, behaviour: ContactBehaviour) =>
      sb('POST', `/sandbox/contacts/${encodeURIComponent(address)}`, behaviour),
    traits: (userId: string, traits: Record<string, unknown>) =>
      sb('POST', `/sandbox/profiles/${encodeURIComponent(userId)}/traits`, { traits }),
    settle: () => sb('POST', '/sandbox/settle', {}),
    advance: (seconds: number) => sb('POST', '/sandbox/clock/advance', { seconds }),
    status: (): Promise<{ clock: string }> => sb('GET', '/sandbox'),
    fault: (fault: Record<string, unknown>) => sb('POST', '/sandbox/faults', fault),
    inboundSms: (from: string, body: string) => sb('POST', '/sandbox/inbound-sms', { from, body }),
    /** a Twilio callback sent by the sandbox: signed, with the URL's retry overrides honoured */
    twilioCallback: (url: string, params: Record<string, string>) =>
      sb('POST', '/sandbox/twilio-callback', { url, params }),
    /** a SendGrid Event Webhook batch sent by the sandbox, retried on non-2xx as SendGrid does */
    emailEvents: (events: unknown[]) => sb('POST', '/sandbox/email-events', { events: events.map(boundEvent) }),
    events: (filter: Record<string, string> = {}): Promise<SegmentEvent[]> =>
      sb('GET', `/sandbox/segment/events?${new URLSearchParams(filter)}`),
    rejected: (): Promise<Array<{ reason: string; payload: SegmentEvent }>> => sb('GET', '/sandbox/segment/rejected'),
    messages: () => sb('GET', '/sandbox/messages'),
    calls: () => sb('GET', '/sandbox/calls'),
    emails: () => sb('GET', '/sandbox/emails'),
    callbacks: () => sb('GET', '/sandbox/callbacks'),
    documents: () => sb('GET', '/sandbox/sync/documents'),
    lists: () => sb('GET', '/sandbox/sync/lists'),
    /** Creates a Sync document through the sandbox's Sync API (as another writer would: e.g. a corrupt one). */
    syncDocument: async (uniqueName: string, data: unknown) => {
      const auth = Buffer.from(`${SANDBOX_DEFAULTS.ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64');
      const res = await fetch(`${urls.sandboxUrl}/v1/Services/default/Documents`, {
        method: 'POST',
        headers: { Authorization: `Basic ${auth}`, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ UniqueName: uniqueName, Data: JSON.stringify(data) }).toString(),
      });
      if (res.status !== 201) throw new Error(`Sync document ${uniqueName}: ${res.status} ${await res.text()}`);
    },
    /**
     * Records of emails /notify sent (notification → user), written through the sandbox's Sync API
     * as /notify writes them: for tests of many engagement events, which credit only notifications
     * with a record, without sending thousands of emails first.
     */
    emailRecords: async (pairs: Array<[notificationId: string, userId: string]>) => {
      const limit = pLimit(16);
      const at = new Date(Date.parse((await sandbox.status()).clock)).toISOString();
      await Promise.all(
        pairs.map(([notificationId, userId]) =>
          limit(() =>
            sandbox.syncDocument(`notification-${notificationId}`, {
              notificationId,
              userId,
              locale: 'ja-JP',
              createdAt: at,
              state: 'done',
              steps: [{ channel: 'EMAIL', status: 'SENT', updatedAt: at }],
            }),
          ),
        ),
      );
    },
    /** A Sync List's items (its first 1,000), read through the sandbox's Sync API. */
    listItems: async (uniqueName: string): Promise<Array<{ index: number; data: any }>> => {
      const auth = Buffer.from(`${SANDBOX_DEFAULTS.ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64');
      const items: Array<{ index: number; data: any }> = [];
      for (let page = 0; page < 10; page++) {
        const from = items.length ? `&From=${items[items.length - 1].index}&Bounds=exclusive` : '';
        const res = await fetch(
          `${urls.sandboxUrl}/v1/Services/default/Lists/${uniqueName}/Items?Order=asc&PageSize=100${from}`,
          { headers: { Authorization: `Basic ${auth}` } },
        );
        if (res.status === 404) return items;
        const got = (await res.json()).items as Array<{ index: number; data: any }>;
        items.push(...got);
        if (got.length < 100) break;
      }
      return items;
    },
    limits: () => sb('GET', '/sandbox/sync/limits'),
    /** Twilio's account concurrency and the latency per API: set them (and reset the counts) … */
    upstream: (settings: { latency?: string; concurrency?: number; resetStats?: boolean }) =>
      sb('POST', '/sandbox/upstream', settings),
    /** … and read what happened: peak in flight, 20429 refusals */
    upstreamStats: () => sb('GET', '/sandbox/upstream'),
    /** every function invocation's wall time, through the runtime's front door */
    invocations: () => sb('GET', '/sandbox/invocations'),
    invocationsReset: () => sb('POST', '/sandbox/invocations/reset', {}),
    /** SendGrid's Event Webhook after a campaign (768 KB batches, each posted once); `again`: the same batches */
    campaignEvents: (
      events: string[],
      again = false,
    ): Promise<{ batches: Array<{ events: number; bytes: number; status: number; ms: number; answer?: any }> }> =>
      sb('POST', '/sandbox/email-events/campaign', { events, again }),
    requests: (): Promise<Record<string, number>> => sb('GET', '/sandbox/requests'),
  };

  return { call, notify, signedPost, emailEvents, sandbox, sb, urls };
}

export const { call, notify, signedPost, emailEvents, sandbox } = clientOf(stack);

/** Track events of one user, as `Event Name` strings in arrival order. */
export async function eventNames(filter: Record<string, string>): Promise<string[]> {
  return (await sandbox.events({ type: 'track', ...filter })).map((e) => e.event!);
}

/**
 * /notify for each of `count` recipients, 6 at a time (as a busy sender would), each answered 200;
 * `request(i)` is the i-th recipient's request.
 */
export async function notifyEach(
  c: { notify: (params: Record<string, unknown>) => Promise<Answer> },
  count: number,
  request: (i: number) => Record<string, unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const params = request(next++);
      const res = await c.notify(params);
      expect([params.userId, res.status]).toEqual([params.userId, 200]);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
}
