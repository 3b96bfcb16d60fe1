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

interface StringRule {
  required?: boolean;
  max?: number;
  pattern?: RegExp;
  patternHint?: string;
}

/** A string parameter; numbers and booleans (Studio sends typed JSON) are accepted as their text. */
export function stringParam(params: Params, name: string, rule: StringRule & { required: true }): string;
export function stringParam(params: Params, name: string, rule?: StringRule): string | undefined;
export function stringParam(params: Params, name: string, rule: StringRule = {}): string | undefined {
  const raw = params[name];
  if (raw === undefined || raw === null || raw === '') {
    if (rule.required) throw badRequest(name, `${name} is required`, 'missing_parameter');
    return undefined;
  }
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') {
    throw badRequest(name, `${name} must be a string`);
  }
  const value = String(raw).trim();
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
  const v = stringParam(params, name, { max: 5 });
  if (v === undefined) return false;
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw badRequest(name, `${name} must be true or false`);
}
