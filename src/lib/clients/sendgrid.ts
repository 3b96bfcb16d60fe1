/**
 * SendGrid clients, loaded on the first email: @sendgrid/mail costs about
 * 85 ms at a cold start, which functions that never email should not pay.
 */
import type { MailService } from '@sendgrid/mail';
import type { Config } from '../config';
import { mayRepeat, Upstream } from '../upstream';

export const SENDGRID_TIMEOUT_MS = 3000;

type SendgridClient = typeof import('@sendgrid/client');

/**
 * A SendGrid client with the configured key and base URL (set after the key: setApiKey resets it),
 * whose every request goes through the invocation's upstream budget (upstream.ts).
 */
export async function sendgridClient(
  config: Pick<Config, 'sendgridApiKey' | 'sendgridApiBaseUrl'>,
  upstream = new Upstream(),
): Promise<SendgridClient> {
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
  const request = client.request.bind(client);
  client.request = ((data: Parameters<SendgridClient['request']>[0]) =>
    upstream.call(
      'sendgrid',
      (timeoutMs) => request({ ...data, timeout: timeoutMs } as typeof data),
      ({ error }) => {
        // the client throws a ResponseError (HTTP status as `code`) for every non-2xx answer
        const e = error as { code?: unknown; response?: { headers?: Record<string, string> } } | undefined;
        const status = typeof e?.code === 'number' && e.response ? e.code : undefined;
        return { status, retryAfter: e?.response?.headers?.['retry-after'] };
      },
      SENDGRID_TIMEOUT_MS,
      mayRepeat(String((data as { method?: string }).method ?? 'GET')),
    )) as SendgridClient['request'];
  return client;
}

export async function mailService(config: Config, upstream = new Upstream()): Promise<MailService> {
  // the package's default export is a shared instance; its constructor gives one of our own
  const shared = (await import('@sendgrid/mail')).default;
  const mail = new (shared.constructor as new () => MailService)();
  mail.setClient(await sendgridClient(config, upstream));
  return mail;
}
