/**
 * Caller authentication. Twilio webhooks are `.protected` (checked by Twilio's
 * runtime when deployed); off that runtime we check X-Twilio-Signature here.
 * SendGrid's webhook carries Basic credentials; /notify and /channel take a
 * Bearer key or a Twilio signature (Studio's Run Function widget signs).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import twilio from 'twilio';
import { CONTEXT_KEYS, contextQuery, schemeFor, TWILIO_RETRY_FRAGMENT } from '../callbacks';
import { ApiError } from './errors';
import type { EndpointRequest } from './endpoint';

/** Constant-time comparison (hashing first makes lengths equal). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Deployed on Twilio's runtime the platform validates `.protected` functions itself. */
export function onTwilioRuntime(req: EndpointRequest): boolean {
  return /\.twil\.io$/.test(String(req.context.DOMAIN_NAME ?? ''));
}

/**
 * The URL Twilio signed: our base URL, the function's path and, for callbacks,
 * the query string we generated (twilio-run merges query and body, so the
 * callback context is the only query we can rebuild).
 */
export function signedUrl(req: EndpointRequest, contextInQuery = true): string {
  const host = req.headers['x-forwarded-host'] ?? req.headers.host ?? String(req.context.DOMAIN_NAME ?? 'localhost');
  const proto = req.headers['x-forwarded-proto'] ?? schemeFor(host);
  const base = req.config.publicBaseUrl ?? `${proto}://${host}`;
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

/** 403 unless the request is signed by Twilio (or already checked by Twilio's runtime). */
export function requireTwilioSignature(req: EndpointRequest): void {
  if (onTwilioRuntime(req)) return;
  if (!hasValidTwilioSignature(req))
    throw new ApiError(403, 'invalid_signature', 'missing or invalid X-Twilio-Signature');
}

/** 401 unless `Authorization: Bearer NOTIFY_API_KEY` or a valid Twilio signature. */
export function requireApiKey(req: EndpointRequest): void {
  const key = req.config.notifyApiKey;
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (key && m && safeEqual(m[1].trim(), key)) return;
  if (hasValidTwilioSignature(req, false)) return;
  throw new ApiError(
    401,
    'unauthorized',
    key ? 'missing or invalid Authorization: Bearer key' : 'NOTIFY_API_KEY is not configured; the endpoint is closed',
  );
}

/** 401 unless the Basic credentials embedded in the SendGrid webhook URL match. */
export function requireBasicAuth(req: EndpointRequest): void {
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
}
