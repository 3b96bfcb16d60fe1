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
