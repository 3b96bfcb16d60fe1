/** An error answered to the caller as `{error: {code, message, field}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly details?: Record<string, unknown>,
    /** seconds, answered as Retry-After (429 and 503) */
    readonly retryAfter?: number,
    /** other headers the answer needs (Allow on a 405) */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, field: this.field ?? null, ...(this.details ?? {}) } };
  }
}

export const badRequest = (field: string, message: string, code = 'invalid_parameter') =>
  new ApiError(400, code, message, field);
