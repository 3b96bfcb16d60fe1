/**
 * Errors the domain reports: what went wrong in the service's own terms. The
 * HTTP layer maps each code to a status (http/endpoint.ts); domain code never
 * chooses one.
 */
export type DomainCode =
  | 'unreachable' // no channel can reach the recipient
  | 'cannot_schedule' // a provider's scheduler cannot take that time
  | 'channel_refused' // the provider refused the channel the caller insisted on
  | 'too_many_segments' // an SMS body over SMS_MAX_SEGMENTS with SMS_MAX_SEGMENTS_STRICT
  | 'template_required' // WhatsApp outside the 24-hour window, and the request gave no template
  | 'not_found'
  | 'in_progress' // another request is sending this notification
  | 'conflict' // the notification id is taken by a different request
  | 'upstream_error' // a provider or store failed
  | 'tracking_unavailable' // Segment could not take the events: the sender should retry
  | 'state_unavailable' // a record could not be read or written: the sender should retry
  | 'rate_limited' // a provider throttled us past what the invocation could wait
  | 'upstream_unavailable'; // a provider, Sync or Segment failed or could not be reached

export class DomainError extends Error {
  constructor(
    readonly code: DomainCode,
    message: string,
    /** the request field the error is about */
    readonly field?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN']);

/**
 * An error thrown by an upstream client (Twilio REST, SendGrid, Segment, a
 * dropped or timed-out connection) as the domain error it is, so it is
 * answered 429, 502 or 503 and never as an internal error; undefined for
 * anything else (a bug stays a 500).
 */
export function upstreamFailure(err: unknown): DomainError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { status?: unknown; code?: unknown; name?: unknown; message?: unknown; response?: unknown };
  const message = typeof e.message === 'string' ? e.message : 'upstream failure';
  // Twilio's RestException carries the HTTP status and its error code; SendGrid's ResponseError the status as code.
  const httpStatus =
    typeof e.status === 'number' ? e.status : typeof e.code === 'number' && e.response ? e.code : undefined;
  if (httpStatus === 429) return new DomainError('rate_limited', `the provider is throttling: ${message}`);
  if (httpStatus !== undefined && httpStatus >= 500) return new DomainError('upstream_unavailable', message);
  if (httpStatus !== undefined && httpStatus >= 400) {
    const code = typeof e.code === 'number' ? e.code : undefined;
    return new DomainError('upstream_error', message, undefined, code ? { provider_code: code } : undefined);
  }
  const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError' || e.name === 'TrackingError';
  if (timedOut || (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) || message === 'fetch failed') {
    return new DomainError('upstream_unavailable', message);
  }
  return undefined;
}
