import sgClient from '@sendgrid/client';
import { MailService } from '@sendgrid/mail';
import type { Config } from '../config';

export const SENDGRID_TIMEOUT_MS = 3000;

// @sendgrid/client exports only a shared singleton; a client of our own per
// invocation keeps one request's base URL and key from leaking into another.
type SendgridClient = typeof sgClient;
const ClientClass = sgClient.constructor as new () => SendgridClient;

/** A SendGrid client with the configured key and base URL (set after the key: setApiKey resets it). */
export function sendgridClient(config: Config): SendgridClient {
  const client = new ClientClass();
  client.setApiKey(config.sendgridApiKey);
  client.setDefaultRequest('baseUrl', config.sendgridApiBaseUrl);
  // axios option passed through by the client, though its typings omit it
  client.setDefaultRequest({ timeout: SENDGRID_TIMEOUT_MS } as unknown as Parameters<
    SendgridClient['setDefaultRequest']
  >[0]);
  return client;
}

export function mailService(config: Config): MailService {
  const mail = new MailService();
  mail.setClient(sendgridClient(config));
  return mail;
}
