/**
 * The vendors' APIs as setup and doctor reach them: Twilio through its SDK (every product, with
 * the sandbox's base-URL override), SendGrid through @sendgrid/client, Segment's Public API over
 * fetch. Their failures become one shape that names the vendor, the HTTP status and the code.
 */
import type twilio from 'twilio';
import { sendgridClient } from '../lib/clients/sendgrid';
import { twilioRestClient } from '../lib/clients/twilio';
import { Deadline } from '../lib/deadline';
import { Upstream } from '../lib/upstream';
import type { EnvValues } from './env-file';

export const SEGMENT_PUBLIC_API = 'https://api.segmentapis.com';
/** a command may run for minutes; one request at a time is plenty and spares the account's limit */
const upstream = () => new Upstream(new Deadline(15 * 60_000), 4);

export class VendorError extends Error {
  constructor(
    readonly vendor: string,
    readonly status: number | undefined,
    readonly code: number | string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'VendorError';
  }

  /** "Twilio error 21712 (HTTP 409): …" */
  describe(): string {
    const code = this.code !== undefined ? ` error ${this.code}` : '';
    const status = this.status !== undefined ? ` (HTTP ${this.status})` : '';
    return `${this.vendor}${code}${status}: ${this.message}`;
  }
}

/** Any vendor failure as a VendorError. */
export function vendorError(vendor: string, err: unknown): VendorError {
  if (err instanceof VendorError) return err;
  const e = err as {
    status?: number;
    code?: number | string;
    message?: string;
    response?: { body?: { errors?: Array<{ message?: string }> } };
  };
  if (vendor === 'SendGrid' && e.response) {
    const detail = e.response.body?.errors?.map((x) => x.message).join('; ');
    return new VendorError(
      vendor,
      typeof e.code === 'number' ? e.code : undefined,
      undefined,
      detail || String(e.message),
    );
  }
  return new VendorError(vendor, e.status, e.code, String(e.message ?? err));
}

export interface Vendors {
  twilio: twilio.Twilio;
  sendgrid(method: 'GET' | 'POST' | 'PATCH', url: string, body?: object): Promise<unknown>;
  /** undefined without SEGMENT_PUBLIC_API_TOKEN */
  segment?: (method: 'GET' | 'POST', path: string, body?: object) => Promise<unknown>;
  /** the HTTP status of GET url (0: no answer) */
  httpStatus(url: string): Promise<number>;
}

export async function vendorsFrom(env: EnvValues): Promise<Vendors> {
  const twilioClient = twilioRestClient(
    env.ACCOUNT_SID,
    env.AUTH_TOKEN,
    env.TWILIO_API_BASE_URL || undefined,
    upstream(),
  );
  const sg = await sendgridClient(
    {
      sendgridApiKey: env.SENDGRID_API_KEY,
      sendgridApiBaseUrl: env.SENDGRID_API_BASE_URL || 'https://api.sendgrid.com',
    },
    upstream(),
  );
  const token = env.SEGMENT_PUBLIC_API_TOKEN;
  const segmentBase = (env.SEGMENT_PUBLIC_API_BASE_URL || SEGMENT_PUBLIC_API).replace(/\/$/, '');
  return {
    twilio: twilioClient,
    async sendgrid(method, url, body) {
      try {
        const [, answer] = await sg.request({ method, url, body });
        return answer;
      } catch (err) {
        throw vendorError('SendGrid', err);
      }
    },
    segment: token
      ? async (method, path, body) => {
          const res = await fetch(`${segmentBase}${path}`, {
            method,
            headers: {
              Authorization: `Bearer ${token}`,
              Accept: 'application/vnd.segment.v1alpha+json, application/json',
              ...(body ? { 'Content-Type': 'application/vnd.segment.v1alpha+json' } : {}),
            },
            body: body ? JSON.stringify(body) : undefined,
            signal: AbortSignal.timeout(10_000),
          });
          const answer = (await res.json().catch(() => ({}))) as { errors?: Array<{ message?: string }> };
          if (!res.ok)
            throw new VendorError(
              'Segment',
              res.status,
              undefined,
              answer.errors?.map((e) => e.message).join('; ') || res.statusText,
            );
          return answer;
        }
      : undefined,
    async httpStatus(url) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 0;
      }
    },
  };
}
