/**
 * Callback URLs carry the notification context in their query string, so a
 * status callback is attributed without a lookup. The same builder rebuilds
 * the URL when a webhook's X-Twilio-Signature is checked.
 */
import type { Context } from '@twilio-labs/serverless-runtime-types/types';
import { type Channel, parseChannel } from '../channel-list';
import type { Config } from '../config';
import type { Params } from './params';

export interface CallbackContext {
  notificationId: string;
  userId: string;
  channel: Channel;
  locale?: string;
}

/** Query keys this service adds to the callback URLs it generates, in order. */
export const CONTEXT_KEYS = ['notificationId', 'userId', 'channel', 'locale'] as const;

/** The scheme a host is served on: twilio-run serves localhost over http, Twilio over https. */
export function schemeFor(host: string): 'http' | 'https' {
  return /^(localhost|127\.0\.0\.1)(:\d+)?$/.test(host) ? 'http' : 'https';
}

export function serviceBaseUrl(config: Config, context: Pick<Context, 'DOMAIN_NAME'>): string {
  if (config.publicBaseUrl) return config.publicBaseUrl;
  const domain = context.DOMAIN_NAME ?? 'localhost:3000';
  return `${schemeFor(domain)}://${domain}`;
}

/** The context query string, keys in CONTEXT_KEYS order (signature checks rebuild it the same way). */
export function contextQuery(values: Partial<Record<(typeof CONTEXT_KEYS)[number], unknown>>): string {
  const query = new URLSearchParams();
  for (const key of CONTEXT_KEYS) {
    const value = values[key];
    if (typeof value === 'string') query.set(key, value);
  }
  return query.toString();
}

export function callbackUrl(base: string, path: string, ctx: CallbackContext): string {
  return `${base}${path}?${contextQuery(ctx)}`;
}

/**
 * Twilio connection overrides (a URL fragment, never sent to us): retry a
 * callback that fails with a 5xx, a connect or a read timeout. Our webhooks
 * answer 5xx exactly when they could not record or track, so Twilio retries.
 */
export const TWILIO_RETRY_FRAGMENT = '#rc=3&rp=5xx,ct,rt';

export const withRetries = (url: string) => `${url}${TWILIO_RETRY_FRAGMENT}`;

/** The context a callback carries, or undefined when it carries none (or a malformed one). */
export function contextFromParams(params: Params): CallbackContext | undefined {
  const { notificationId, userId, locale } = params;
  const channel = parseChannel(params.channel);
  if (typeof notificationId !== 'string' || typeof userId !== 'string' || !channel || !notificationId || !userId)
    return undefined;
  return { notificationId, userId, channel, locale: typeof locale === 'string' ? locale : undefined };
}
