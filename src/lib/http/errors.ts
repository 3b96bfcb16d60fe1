/** An error answered to the caller as `{error: {code, message, field}}`. */
/** What an error answer may carry besides its status, code and message. */
export interface ApiErrorOptions {
  /** the request field at fault */
  field?: string;
  /** more members of the answer's `error` object */
  details?: Record<string, unknown>;
  /** seconds, answered as Retry-After (429 and 503) */
  retryAfter?: number;
  /** other headers the answer needs (Allow on a 405) */
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  readonly field?: string;
  readonly details?: Record<string, unknown>;
  readonly retryAfter?: number;
  readonly headers?: Record<string, string>;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    options: ApiErrorOptions = {},
  ) {
    super(message);
    this.name = 'ApiError';
    ({ field: this.field, details: this.details, retryAfter: this.retryAfter, headers: this.headers } = options);
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, field: this.field ?? null, ...(this.details ?? {}) } };
  }
}

export const badRequest = (field: string, message: string, code = 'invalid_parameter') =>
  new ApiError(400, code, message, { field });
