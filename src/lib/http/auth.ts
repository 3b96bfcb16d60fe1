/**
 * Caller authentication, run by the endpoint wrapper before anything else.
 * Twilio webhooks are `.protected` (Twilio's runtime checks them when
 * deployed), and X-Twilio-Signature is checked here as well, always: no value
 * the environment can set turns a check off. The signed URL is built from
 * PUBLIC_BASE_URL or the function's own domain, never from the request's
 * headers. SendGrid's webhook carries Basic credentials; the API endpoints
 * take a Bearer key or a Twilio signature (Studio's Run Function widget signs).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import twilio from 'twilio';
import { CONTEXT_KEYS, contextQuery, serviceBaseUrl, TWILIO_RETRY_FRAGMENT } from './callback-urls';
import { ApiError, badRequest } from './errors';
import type { Caller, EndpointRequest } from './endpoint';
import { jsonArrayOf } from './params';

/** Constant-time comparison (hashing first makes lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * The URL Twilio signed: our base URL, the function's path and, for callbacks,
 * the query string we generated (twilio-run merges query and body, so the
 * callback context is the only query we can rebuild).
 */
export function signedUrl(req: EndpointRequest, contextInQuery = true): string {
  const base = serviceBaseUrl(req.config, req.context);
  const qs = contextInQuery ? contextQuery(req.params) : '';
  return `${base}${req.path}${qs ? `?${qs}` : ''}`;
}

/** The posted fields Twilio signed: everything but the query-string context we added. */
function postedFields(req: EndpointRequest, contextInQuery: boolean): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.params)) {
    if (contextInQuery && (CONTEXT_KEYS as readonly string[]).includes(k)) continue;
    if (typeof v === 'string') fields[k] = v;
  }
  return fields;
}

/**
 * `contextInQuery`: a callback URL we generated (context in the query); false
 * for a plain POST such as Studio's. Twilio signs "the exact URL your
 * application supplied"; whether the connection-override fragment we append
 * (#rc=…) is part of it is undocumented, so a valid signature over the URL
 * with or without it is accepted: both are HMACs with the auth token.
 */
export function hasValidTwilioSignature(req: EndpointRequest, contextInQuery = true): boolean {
  const signature = req.headers['x-twilio-signature'];
  if (!signature) return false;
  const url = signedUrl(req, contextInQuery);
  const fields = postedFields(req, contextInQuery);
  const candidates = contextInQuery ? [url, `${url}${TWILIO_RETRY_FRAGMENT}`] : [url];
  return candidates.some((u) => twilio.validateRequest(req.config.authToken, signature, u, fields));
}

/** 403 unless the request is signed by Twilio. */
export function requireTwilioSignature(req: EndpointRequest): Caller {
  if (!hasValidTwilioSignature(req))
    throw new ApiError(403, 'invalid_signature', 'missing or invalid X-Twilio-Signature');
  return 'signature';
}

/** The user name of the Basic credentials Studio's HTTP widget carries (the password: STUDIO_API_KEY). */
export const STUDIO_USER = 'studio';
/** Origin and Sec-Fetch-Site: what every browser sets on a cross-site post (Node's fetch sends Sec-Fetch-Mode only) */
const fromBrowser = (req: EndpointRequest) =>
  req.headers.origin !== undefined || req.headers['sec-fetch-site'] !== undefined;

/** Which keys an endpoint takes besides NOTIFY_API_KEY (the one that may do everything). */
interface KeyRule {
  /** Basic studio:STUDIO_API_KEY, from Studio's Make HTTP Request widget (/notify, /notification) */
  studio?: boolean;
  /** Bearer INSIGHTS_API_KEY, read-only (/insights) */
  insights?: boolean;
}

const bearerOf = (req: EndpointRequest) => /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1].trim();

/**
 * 401 unless `Authorization: Bearer NOTIFY_API_KEY`, or a key `rule` lets in, or a valid Twilio
 * signature. A signature covers only form fields (strings), so a signed request must carry nothing
 * else: a captured signed call replayed as JSON with added flags would otherwise still verify.
 * Each key may do what it is for and no more: the one in Studio's flow (kept in clear in every
 * revision of it) only sends and reads notifications; the one pasted into the insights page only reads.
 */
function requireKey(req: EndpointRequest, rule: KeyRule): Caller {
  const { notifyApiKey: key, studioApiKey, insightsApiKey } = req.config;
  const given = bearerOf(req);
  if (given && key && safeEqual(given, key)) return 'key';
  if (given && rule.insights && insightsApiKey && safeEqual(given, insightsApiKey)) return 'key';
  // Studio's Make HTTP Request widget sends no headers of ours: the key rides as the password of
  // Basic credentials in its URL (https://studio:KEY@…), as Twilio documents for that widget. Only
  // under the user name `studio`, and never from a browser: a browser that once opened such a URL
  // keeps the credentials and would attach them to a hostile page's form post (it marks its
  // requests with Origin and Sec-Fetch-Site, which Studio never sends).
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (rule.studio && studioApiKey && basic && !fromBrowser(req)) {
    const pair = Buffer.from(basic[1], 'base64').toString('utf8');
    if (pair.startsWith(`${STUDIO_USER}:`) && safeEqual(pair.slice(STUDIO_USER.length + 1), studioApiKey)) return 'key';
  }
  if (hasValidTwilioSignature(req, false)) {
    const unsigned = Object.entries(req.params).find(([, v]) => typeof v !== 'string');
    if (unsigned)
      throw badRequest(unsigned[0], `${unsigned[0]} must be a form field: a Twilio signature covers only those`);
    return 'signature';
  }
  throw new ApiError(
    401,
    'unauthorized',
    key ? 'missing or invalid Authorization: Bearer key' : 'NOTIFY_API_KEY is not configured; the endpoint is closed',
  );
}

/** NOTIFY_API_KEY (or a Twilio signature): /cancel, /channel, /recover. */
export const requireApiKey = (req: EndpointRequest): Caller => requireKey(req, {});
/** …or Studio's key: /notify and /notification. */
export const requireApiKeyOrStudio = (req: EndpointRequest): Caller => requireKey(req, { studio: true });
/** …or the read-only insights key: /insights. */
export const requireInsightsKey = (req: EndpointRequest): Caller => requireKey(req, { insights: true });

/** 401 unless the Basic credentials embedded in the SendGrid webhook URL match. */
function requireBasicAuth(req: EndpointRequest): Caller {
  const { sendgridWebhookUsername: user, sendgridWebhookPassword: pass } = req.config;
  const m = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '');
  const given = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
  if (!user || !pass || !safeEqual(given, `${user}:${pass}`)) {
    throw new ApiError(
      401,
      'unauthorized',
      user && pass
        ? 'missing or invalid Basic credentials'
        : 'SENDGRID_WEBHOOK_USERNAME/PASSWORD are not configured; the endpoint is closed',
    );
  }
  return 'basic';
}

export const SENDGRID_SIGNATURE_HEADER = 'x-twilio-email-event-webhook-signature';
export const SENDGRID_TIMESTAMP_HEADER = 'x-twilio-email-event-webhook-timestamp';

/**
 * The bodies SendGrid may have posted for these events. SendGrid signs the raw body, and Twilio
 * Functions hand a function the parsed JSON only (no raw body), so the body is written again in
 * the forms SendGrid posts: compact JSON, each event on a line of its own ("},\r\n{") with a
 * closing CRLF, which is what its documented test vectors verify against; then plain compact JSON,
 * with and without the CRLF. JSON.parse keeps a key order, so the events come back as sent.
 */
export function* sendgridBodiesOf(events: unknown[]): Generator<string> {
  // built one at a time, SendGrid's own layout first: a batch is up to 768 KB, and a genuine one
  // verifies at the first
  const lines = sendgridBodyOf(events);
  yield lines;
  const compact = JSON.stringify(events);
  yield compact;
  yield `${compact}\r\n`;
  yield lines.slice(0, -2);
}

/** A batch's body as SendGrid writes it: compact JSON, one event per line, a closing CRLF. */
export function sendgridBodyOf(events: unknown[]): string {
  return `[${events.map((e) => JSON.stringify(e)).join(',\r\n')}]\r\n`;
}

/**
 * SendGrid's Signed Event Webhook: an ECDSA (P-256) signature over the timestamp header and the
 * body, checked with SendGrid's own library (loaded on the first batch: it costs ~30 ms that no
 * other function should pay at a cold start).
 */
export async function hasValidSendgridSignature(
  publicKey: string,
  headers: Record<string, string>,
  events: unknown[],
): Promise<boolean> {
  const signature = headers[SENDGRID_SIGNATURE_HEADER];
  const timestamp = headers[SENDGRID_TIMESTAMP_HEADER];
  if (!signature || !timestamp || !/^\d{1,12}$/.test(timestamp)) return false;
  const { EventWebhook } = await import('@sendgrid/eventwebhook');
  const webhook = new EventWebhook();
  try {
    const key = webhook.convertPublicKeyToECDSA(publicKey);
    for (const body of sendgridBodiesOf(events))
      if (webhook.verifySignature(key, body, signature, timestamp)) return true;
    return false;
  } catch {
    return false; // a signature that is not base64 DER, or a key that is not one
  }
}

/**
 * SendGrid's Event Webhook: the Basic credentials embedded in its URL (401), and, wherever
 * SENDGRID_WEBHOOK_PUBLIC_KEY is configured, the batch's signature (403). A refused batch is
 * resent by SendGrid for 24 hours, so a key set by mistake shows at once in doctor.
 */
export async function requireSendgridWebhook(req: EndpointRequest): Promise<Caller> {
  const caller = requireBasicAuth(req);
  const publicKey = req.config.sendgridWebhookPublicKey;
  const events = jsonArrayOf(req.params);
  // a body that is no array of events is answered 400 by the webhook, and nothing in it is read
  if (publicKey && events.length > 0 && !(await hasValidSendgridSignature(publicKey, req.headers, events))) {
    throw new ApiError(
      403,
      'invalid_signature',
      `missing or invalid ${SENDGRID_SIGNATURE_HEADER} (SendGrid's Signed Event Webhook)`,
    );
  }
  return caller;
}
