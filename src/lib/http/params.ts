import { badRequest } from './errors';

/**
 * Request parameters. twilio-run and the deployed runtime merge query-string,
 * form and JSON fields into `event`, and add `request` (headers, cookies).
 */
export type Params = Record<string, unknown>;

export function paramsOf(event: Record<string, unknown>): Params {
  const { request: _request, ...params } = event;
  return params;
}

/**
 * A JSON array body as the runtime hands it over: its items arrive as fields "0", "1", … (empty
 * for any other body).
 */
export function jsonArrayOf(params: Params): unknown[] {
  return Object.keys(params)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => params[k]);
}

/** Characters outside XML 1.0's Char production (with `u`, a lone surrogate matches none of the ranges). */
const XML_INVALID = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

interface StringRule {
  required?: boolean;
  max?: number;
  pattern?: RegExp;
  patternHint?: string;
  /** also take a JSON number or boolean as its text (counts and flags); text fields take strings only */
  scalar?: boolean;
}

/** A string parameter, trimmed; 400 naming the field when it is missing, not text, too long or malformed. */
export function stringParam(params: Params, name: string, rule: StringRule & { required: true }): string;
export function stringParam(params: Params, name: string, rule?: StringRule): string | undefined;
export function stringParam(params: Params, name: string, rule: StringRule = {}): string | undefined {
  const raw = params[name];
  if (raw === undefined || raw === null || raw === '') {
    if (rule.required) throw badRequest(name, `${name} is required`, 'missing_parameter');
    return undefined;
  }
  const scalar = typeof raw === 'number' || typeof raw === 'boolean';
  if (typeof raw !== 'string' && !(rule.scalar && scalar)) throw badRequest(name, `${name} must be a string`);
  const value = String(raw).trim();
  // what XML cannot carry (NUL and other C0 controls, U+FFFE/U+FFFF, lone surrogates) would break a
  // call's TwiML later, far from here: refused now, naming the field
  if (XML_INVALID.test(value)) {
    throw badRequest(
      name,
      `${name} contains a character that cannot be sent (a control character or an invalid code point)`,
      'invalid_character',
    );
  }
  if (value === '') {
    if (rule.required) throw badRequest(name, `${name} is required`, 'missing_parameter');
    return undefined;
  }
  if (rule.max !== undefined && value.length > rule.max) {
    throw badRequest(name, `${name} is longer than ${rule.max} characters`, 'too_long');
  }
  if (rule.pattern && !rule.pattern.test(value)) {
    throw badRequest(name, `${name} ${rule.patternHint ?? 'has an invalid format'}`);
  }
  return value;
}

export function booleanParam(params: Params, name: string): boolean {
  const v = stringParam(params, name, { max: 5, scalar: true });
  if (v === undefined) return false;
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw badRequest(name, `${name} must be true or false`);
}

export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$/;

/** A user or notification id: letters, digits and _.:@-, at most 64 (it names Sync documents). */
export function idParam(params: Params, name: string, rule: { required: true }): string;
export function idParam(params: Params, name: string, rule?: { required?: boolean }): string | undefined;
export function idParam(params: Params, name: string, rule: { required?: boolean } = {}): string | undefined {
  const hint = 'may contain letters, digits and _.:@- only';
  return stringParam(params, name, { required: rule.required, max: 64, pattern: ID_PATTERN, patternHint: hint });
}
