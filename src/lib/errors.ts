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
  | 'not_found'
  | 'in_progress' // another request is sending this notification
  | 'upstream_error' // a provider or store failed
  | 'tracking_unavailable' // Segment could not take the events: the sender should retry
  | 'state_unavailable'; // a record could not be read or written: the sender should retry

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
