/**
 * Logging that never prints a phone number, email address or message body in
 * clear: every string passes through `mask` before it reaches console.
 */
// Not inside words or hyphenated ids (SIDs, UUIDs): digits there are not phone numbers.
const PHONE = /(?<![A-Za-z0-9-])\+?\d[\d\s().-]{6,}\d(?![A-Za-z0-9]|-[A-Za-z0-9])/g;
const EMAIL = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[A-Za-z]{2,}/g;

export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return digits.length <= 4 ? '***' : `+***${digits.slice(-2)}`;
}

export function maskEmail(email: string): string {
  const at = email.indexOf('@');
  return at < 1 ? '***' : `${email[0]}***@${email.slice(at + 1).replace(/^[^.]+/, '***')}`;
}

/** Masks phone numbers and email addresses inside free text; digits inside words (SIDs, ids) are kept. */
export function mask(text: string): string {
  return text.replace(EMAIL, maskEmail).replace(PHONE, maskPhone);
}

/** errors whose messages are the vendors' or ours: about a request, never carrying a body */
const KNOWN_ERRORS = new Set([
  'SyncError',
  'TrackingError',
  'DomainError',
  'ApiError',
  'ChannelRefused',
  'RestException',
  'TimeoutError',
  'AbortError',
  'ResponseError',
]);

/**
 * An error as a log line may carry it: a vendor's or our own message (masked, cut), or, for any
 * other error (a library's, whose message may quote what it was given: a message body), its name
 * and where it was thrown, never its message.
 */
export function errorText(err: unknown): string {
  const e = err as { name?: unknown; message?: unknown; stack?: unknown; status?: unknown; code?: unknown } | undefined;
  const name = typeof e?.name === 'string' ? e.name : typeof err;
  const vendor = typeof e?.status === 'number' || typeof e?.code === 'number' || typeof e?.code === 'string';
  if (typeof e?.message === 'string' && (KNOWN_ERRORS.has(name) || vendor)) return e.message.slice(0, 300);
  const frame = typeof e?.stack === 'string' ? /\n\s+at (?:.*\()?([^()\s]+:\d+):\d+\)?/.exec(e.stack)?.[1] : undefined;
  return frame ? `${name} at ${frame.split('/').slice(-2).join('/')}` : name;
}

type Fields = Record<string, string | number | boolean | undefined | null>;

function format(level: string, message: string, fields?: Fields): string {
  const parts = fields
    ? Object.entries(fields)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${mask(String(v))}`) // each value alone: "to=" is not part of an address
    : [];
  return `[${level}] ${mask(message)}${parts.length ? ` ${parts.join(' ')}` : ''}`;
}

export const log = {
  info: (message: string, fields?: Fields) => console.log(format('info', message, fields)),
  warn: (message: string, fields?: Fields) => console.warn(format('warn', message, fields)),
  error: (message: string, fields?: Fields) => console.error(format('error', message, fields)),
};
