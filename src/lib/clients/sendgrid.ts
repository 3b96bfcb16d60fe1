/**
 * SendGrid clients, loaded on the first email: @sendgrid/mail costs about
 * 85 ms at a cold start, which functions that never email should not pay.
 */
import type { MailService } from '@sendgrid/mail';
import type { Config } from '../config';

export const SENDGRID_TIMEOUT_MS = 3000;

type SendgridClient = typeof import('@sendgrid/client');

/** A SendGrid client with the configured key and base URL (set after the key: setApiKey resets it). */
export async function sendgridClient(config: Config): Promise<SendgridClient> {
  const shared = (await import('@sendgrid/client')).default;
  // @sendgrid/client exports only a shared singleton; a client of our own per
  // invocation keeps one request's base URL and key from leaking into another.
  const client = new (shared.constructor as new () => SendgridClient)();
  client.setApiKey(config.sendgridApiKey);
  client.setDefaultRequest('baseUrl', config.sendgridApiBaseUrl);
  // axios option passed through by the client, though its typings omit it
  client.setDefaultRequest({ timeout: SENDGRID_TIMEOUT_MS } as unknown as Parameters<
    SendgridClient['setDefaultRequest']
  >[0]);
  return client;
}

export async function mailService(config: Config): Promise<MailService> {
  // the package's default export is a shared instance; its constructor gives one of our own
  const shared = (await import('@sendgrid/mail')).default;
  const mail = new (shared.constructor as new () => MailService)();
  mail.setClient(await sendgridClient(config));
  return mail;
}
