import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient';
import type { Config } from '../config';

/**
 * The official Twilio client. With TWILIO_API_BASE_URL set, every Twilio REST
 * host (api.twilio.com, sync.twilio.com, …) is replaced by that base URL while
 * the path is kept, which is how the local sandbox and test servers are reached.
 */
class RebasingRequestClient extends twilio.RequestClient {
  constructor(private readonly base: URL, opts: ConstructorParameters<typeof twilio.RequestClient>[0]) {
    super(opts);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const uri = new URL(opts.uri);
    const basePath = this.base.pathname.replace(/\/$/, '');
    const rebased = `${this.base.origin}${basePath}${uri.pathname}${uri.search}`;
    return super.request<TData>({ ...opts, uri: rebased });
  }
}

export const TWILIO_TIMEOUT_MS = 4000;

export function twilioClient(config: Config): twilio.Twilio {
  const clientOpts = { timeout: TWILIO_TIMEOUT_MS };
  const httpClient = config.twilioApiBaseUrl
    ? new RebasingRequestClient(new URL(config.twilioApiBaseUrl), clientOpts)
    : new twilio.RequestClient(clientOpts);
  return twilio(config.accountSid, config.authToken, { httpClient });
}
