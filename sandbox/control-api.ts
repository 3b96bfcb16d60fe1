/** The sandbox's own inspection and control API, under /sandbox/, and the dashboard at /. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isObject, type Json, type Router, type SandboxRequest, type SandboxResponse } from './http';
import type { SandboxSettings } from './settings';
import type { Api, ContactBehaviour, SandboxState } from './state';
import { dashboardHtml } from './dashboard-page';
import { dashboardSnapshot } from './dashboard';
import type { Simulator } from './simulator';
import { SANDBOX_DEFAULTS } from './settings';
import { parseLatency } from './upstream-limits';

const APIS: Api[] = ['twilio', 'sync', 'sendgrid', 'segment', 'profiles'];
const bad = (message: string): SandboxResponse => ({ status: 400, body: { error: message } });

function body(req: SandboxRequest): Json {
  return isObject(req.json) ? req.json : {};
}

export function registerControlApi(
  router: Router,
  state: SandboxState,
  settings: SandboxSettings,
  sim: Simulator,
): void {
  // the dashboard: the page, its snapshot, and /notify on the functions for its "Send" control
  router.on('GET', '/', () => ({
    status: 200,
    body: dashboardHtml(settings.functionsUrl),
    headers: { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' },
  }));
  // Noto Sans JP (@fontsource, split by unicode range): Japanese renders in any browser, even one without CJK fonts
  const fonts = join(
    dirname(createRequire(join(process.cwd(), 'package.json')).resolve('@fontsource/noto-sans-jp/package.json')),
  );
  const font = (dir: string, file: string, type: string): SandboxResponse => {
    if (!/^[\w.-]+$/.test(file)) return { status: 404, body: { error: 'no such font file' } };
    try {
      return {
        status: 200,
        body: readFileSync(join(fonts, dir, file)),
        headers: { 'Content-Type': type, 'Cache-Control': 'max-age=86400' },
      };
    } catch {
      return { status: 404, body: { error: 'no such font file' } };
    }
  };
  router.on('GET', '/fonts/noto-sans-jp/:file', (req) => font('', req.params.file, 'text/css; charset=utf-8'));
  router.on('GET', '/fonts/noto-sans-jp/files/:file', (req) => font('files', req.params.file, 'font/woff2'));
  router.on('GET', '/sandbox/dashboard.json', (req) => ({
    status: 200,
    body: dashboardSnapshot(state, req.query.get('since') ?? undefined),
  }));
  router.on('POST', '/sandbox/dashboard/notify', async (req) => {
    const key = process.env.NOTIFY_API_KEY || SANDBOX_DEFAULTS.NOTIFY_API_KEY;
    const res = await fetch(`${settings.functionsUrl}/notify`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body(req)),
    }).catch((err: Error) => err);
    if (res instanceof Error) return { status: 502, body: { error: `the functions are unreachable: ${res.message}` } };
    return { status: res.status, body: await res.json().catch(() => ({})) };
  });

  router.on('GET', '/sandbox', () => ({
    status: 200,
    body: {
      sandbox: 'Twilio, SendGrid and Segment sandbox',
      clock: state.clock.date().toISOString(),
      simulate: state.simulate,
      callbacks: {
        functions: settings.functionsUrl,
        inboundSms: settings.inboundSmsUrl,
        emailEvents: settings.emailEventsUrl,
      },
    },
  }));
  // the account's wiring (account.ts), as setup and doctor find it
  router.on('GET', '/sandbox/account', () => {
    const a = state.account;
    return {
      status: 200,
      body: {
        numbers: a.numbers,
        messagingServices: a.messagingServices,
        // registered with Meta (a person's work): what setup can add to a Messaging Service
        whatsappSenders: state.whatsapp.senders,
        syncServices: a.syncServices,
        serverless: a.serverlessServices.map((s) => ({
          ...s,
          environments: a.environments.filter((e) => e.service_sid === s.sid),
        })),
        eventWebhooks: a.eventWebhooks.map((w) => ({ ...w, public_key: a.signingKeys.get(w.id)?.publicKey ?? '' })),
        tracking: a.tracking,
        computedTraits: a.computedTraits,
        inboundRoute: a.inboundRoute(settings.twilioPhoneNumber),
      },
    };
  });
  // where the deployed environment answers (to make a deployed service unreachable, for doctor)
  router.on('POST', '/sandbox/account/domain', (req) => {
    const { domain } = body(req);
    if (typeof domain !== 'string' || domain === '') return bad('domain (host[:port]) is required');
    for (const e of state.account.environments) e.domain_name = domain;
    return { status: 200, body: { domain } };
  });
  router.on('GET', '/sandbox/messages', () => ({ status: 200, body: state.messages }));
  router.on('GET', '/sandbox/calls', () => ({ status: 200, body: state.calls }));
  router.on('GET', '/sandbox/emails', () => ({ status: 200, body: state.emails.map(({ schedule: _s, ...e }) => e) }));
  router.on('GET', '/sandbox/callbacks', () => ({ status: 200, body: state.callbacks }));
  router.on('GET', '/sandbox/sync/documents', () => ({ status: 200, body: [...state.syncDocuments.values()] }));
  router.on('GET', '/sandbox/sync/lists', () => ({
    status: 200,
    body: [...state.syncLists.values()].map(({ items, ...list }) => ({ ...list, items: items.length })),
  }));
  // what Sync's per-object limits refused, and the busiest object's use of its 10 s budget (200 units)
  router.on('GET', '/sandbox/sync/limits', () => ({
    status: 200,
    body: { peak: state.syncLimits.peak, throttled: state.syncLimits.throttled },
  }));
  router.on('GET', '/sandbox/segment/events', (req) => {
    const filters = ['type', 'event', 'userId', 'anonymousId']
      .map((k) => [k, req.query.get(k)] as const)
      .filter(([, v]) => v !== null);
    const events = state.segmentEvents.filter((e) => filters.every(([k, v]) => e[k] === v));
    return { status: 200, body: events };
  });
  router.on('GET', '/sandbox/segment/rejected', () => ({ status: 200, body: state.segmentRejected }));
  router.on('GET', '/sandbox/requests', () => ({ status: 200, body: state.requestCounts }));
  // Twilio's account concurrency (20429 past it) and the latency per API; the functions' invocations
  router.on('GET', '/sandbox/upstream', () => ({ status: 200, body: state.upstream.stats() }));
  router.on('POST', '/sandbox/upstream', (req) => {
    const { latency, concurrency, resetStats } = body(req);
    try {
      if (latency !== undefined) state.upstream.latencyMs = parseLatency(String(latency));
    } catch (err) {
      return bad((err as Error).message);
    }
    if (concurrency !== undefined) {
      if (!Number.isInteger(concurrency) || (concurrency as number) < 1)
        return bad('concurrency must be a positive integer');
      state.upstream.concurrency = concurrency as number;
    }
    if (resetStats === true) state.upstream.resetStats();
    return { status: 200, body: state.upstream.stats() };
  });
  router.on('GET', '/sandbox/invocations', () => ({ status: 200, body: state.invocations.stats() }));
  router.on('POST', '/sandbox/invocations/reset', () => {
    state.invocations.reset();
    return { status: 200, body: state.invocations.stats() };
  });

  router.on('POST', '/sandbox/profiles/:userId/traits', (req) => {
    const traits = body(req).traits;
    if (!isObject(traits)) return bad('traits must be an object');
    const userId = req.params.userId;
    state.profileTraits.set(userId, { ...(state.profileTraits.get(userId) ?? {}), ...traits });
    return { status: 200, body: { userId, traits: state.profileTraits.get(userId) } };
  });

  router.on('POST', '/sandbox/contacts/:address', (req) => {
    const behaviour = body(req) as ContactBehaviour;
    for (const [c, hours] of Object.entries(behaviour.engageByHour ?? {}))
      if (!Array.isArray(hours) || hours.length !== 24 || hours.some((p) => typeof p !== 'number' || p < 0 || p > 1))
        return bad(`engageByHour.${c} must be 24 probabilities (0 to 1), one per local hour 0–23`);
    state.contacts.set(req.params.address.toLowerCase(), behaviour);
    return { status: 200, body: { address: req.params.address, behaviour } };
  });

  router.on('POST', '/sandbox/inbound-sms', async (req) => {
    const { from, body: text, to } = body(req);
    if (typeof from !== 'string' || typeof text !== 'string') return bad('from and body are required strings');
    const status = await sim.inboundSms(from, text, typeof to === 'string' ? to : undefined);
    return { status: 200, body: { delivered: status } };
  });

  // a WhatsApp message from a contact (opens its 24-hour window); buttonPayload: a quick-reply press
  router.on('POST', '/sandbox/inbound-whatsapp', async (req) => {
    const { from, body: text, buttonPayload } = body(req);
    if (typeof from !== 'string' || !/^whatsapp:\+[1-9]\d{1,14}$/.test(from) || typeof text !== 'string')
      return bad('from (whatsapp:+E164) and body are required strings');
    const payload = typeof buttonPayload === 'string' ? buttonPayload : undefined;
    const status = await sim.inboundWhatsApp(from, text, undefined, payload);
    return { status: 200, body: { delivered: status } };
  });

  router.on('POST', '/sandbox/twilio-callback', async (req) => {
    const { url, params } = body(req);
    if (typeof url !== 'string' || !isObject(params)) return bad('url (string) and params (object) are required');
    // the signer signs for the local functions only
    if (!URL.canParse(url) || new URL(url).origin !== new URL(settings.functionsUrl).origin)
      return bad(`url must be on the local functions (${settings.functionsUrl})`);
    const status = await sim.postTwilio(
      'replayed',
      url,
      Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])),
    );
    return { status: 200, body: { delivered: status } };
  });

  router.on('POST', '/sandbox/email-events', async (req) => {
    const { events } = body(req);
    if (!Array.isArray(events)) return bad('events must be an array');
    return { status: 200, body: { delivered: await sim.postEmailEvents(events) } };
  });

  // the Event Webhook after a campaign: the given events of every email sent, in 768 KB batches, each posted once
  let lastCampaign: Array<Array<Record<string, unknown>>> = [];
  router.on('POST', '/sandbox/email-events/campaign', async (req) => {
    const { events, again } = body(req);
    const kinds = Array.isArray(events) ? events.map(String) : ['processed', 'delivered', 'open'];
    // again: the same batches as last time, as SendGrid redelivers a batch it had no 2xx for
    const batches = again === true ? lastCampaign : sim.campaignEvents(kinds);
    lastCampaign = batches;
    const posted = [];
    for (const batch of batches) {
      const bytes = Buffer.byteLength(JSON.stringify(batch));
      posted.push({ events: batch.length, bytes, ...(await sim.postEmailBatchOnce(batch)) });
    }
    return { status: 200, body: { batches: posted } };
  });

  router.on('POST', '/sandbox/faults', (req) => {
    const { api, status, latencyMs, drop, count, body: faultBody, headers, method, path } = body(req);
    if (!APIS.includes(api as Api)) return bad(`api must be one of ${APIS.join(', ')}`);
    state.faults.set(api as Api, {
      status: typeof status === 'number' ? status : undefined,
      latencyMs: typeof latencyMs === 'number' ? latencyMs : undefined,
      drop: drop === true,
      body: faultBody,
      headers: isObject(headers) ? (headers as Record<string, string>) : undefined,
      method: typeof method === 'string' ? method.toUpperCase() : undefined,
      path: typeof path === 'string' ? path : undefined,
      remaining: typeof count === 'number' ? count : 1,
    });
    return { status: 200, body: { api, fault: state.faults.get(api as Api) } };
  });

  router.on('POST', '/sandbox/clock/advance', async (req) => {
    const seconds = Number(body(req).seconds);
    if (!Number.isFinite(seconds) || seconds < 0) return bad('seconds must be a non-negative number');
    state.clock.advance(seconds);
    const released = sim.releaseDue();
    await sim.settle();
    return { status: 200, body: { now: state.clock.date().toISOString(), released } };
  });
  router.on('GET', '/sandbox/clock', () => ({ status: 200, body: { now: state.clock.date().toISOString() } }));

  router.on('POST', '/sandbox/settle', async () => {
    await sim.settle();
    return { status: 200, body: { settled: true } };
  });

  router.on('POST', '/sandbox/reset', async (req) => {
    await sim.settle(); // callbacks still in flight belong to what is being forgotten
    const simulate = body(req).simulate;
    state.reset(typeof simulate === 'boolean' ? simulate : settings.simulate);
    return { status: 200, body: { reset: true, simulate: state.simulate } };
  });
}
