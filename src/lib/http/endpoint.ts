/**
 * The one wrapper every function goes through: it loads the configuration,
 * turns thrown ApiErrors into JSON answers, hides everything else behind a
 * generic 500, and always answers JSON or TwiML with the right content type.
 */
import { useSandboxClock } from '../clock';
import type { Context, ServerlessCallback } from '@twilio-labs/serverless-runtime-types/types';
import { type Config, ConfigError, loadConfig } from '../config';
import { Deadline } from '../deadline';
import { errorText, log } from '../log';
import { type DomainCode, DomainError, upstreamFailure } from '../errors';
import { ApiError } from './errors';
import { Upstream } from '../upstream';
import { type Params, paramsOf } from './params';

export interface EndpointRequest {
  context: Context;
  config: Config;
  params: Params;
  headers: Record<string, string>;
  /** the function's path, e.g. /sms/status */
  path: string;
  /** this invocation's time budget */
  deadline: Deadline;
  /** this invocation's upstream budget (concurrency and deadline): every vendor request goes through it */
  upstream: Upstream;
  /** how the caller proved who it is (set by the endpoint's authentication, before anything runs) */
  caller?: Caller;
}

/** How a caller authenticated: the API key, a Twilio signature, SendGrid's Basic credentials. */
export type Caller = 'key' | 'signature' | 'basic';

/** Checks the caller (throws 401/403) and says how it authenticated. */
export type Authenticate = (req: EndpointRequest) => Caller | Promise<Caller>;

export interface EndpointOptions {
  /** every endpoint says who may call it: authentication runs first, before any work or sweep */
  auth: Authenticate;
  /** TwiML endpoints answer errors with empty TwiML */
  twiml?: boolean;
  /** endpoints that act take a body: a request without one (a GET, whose query string lands in access logs) is 405 */
  bodyRequired?: boolean;
}

export type Reply = ({ status: number; json: unknown } | { status: number; twiml: string }) & {
  headers?: Record<string, string>;
};

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

function respond(callback: ServerlessCallback, reply: Reply): void {
  const response = new Twilio.Response();
  response.setStatusCode(reply.status);
  for (const [name, value] of Object.entries(reply.headers ?? {})) response.appendHeader(name, value);
  if ('twiml' in reply) {
    response.appendHeader('Content-Type', 'text/xml; charset=utf-8');
    response.setBody(reply.twiml);
  } else {
    response.appendHeader('Content-Type', 'application/json; charset=utf-8');
    response.setBody(reply.json as object);
  }
  callback(null, response);
}

function headersOf(event: Record<string, unknown>): Record<string, string> {
  const request = event.request as { headers?: Record<string, unknown> } | undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(request?.headers ?? {})) if (typeof v === 'string') out[k.toLowerCase()] = v;
  return out;
}

/** The HTTP status of each domain error; 503s ask the sender to retry. */
const STATUS_OF: Record<DomainCode, number> = {
  unreachable: 422,
  cannot_schedule: 422,
  channel_refused: 422,
  too_many_segments: 400,
  template_required: 400,
  not_found: 404,
  in_progress: 409,
  conflict: 409,
  upstream_error: 502,
  tracking_unavailable: 503,
  state_unavailable: 503,
  rate_limited: 429,
  upstream_unavailable: 503,
};

/** How long a caller should wait before retrying a 429 or 503. */
const RETRY_AFTER_S = 2;

/** A domain error as the HTTP error it is answered with. */
export function httpErrorOf(err: DomainError): ApiError {
  const status = STATUS_OF[err.code];
  const retryAfter = status === 429 || status === 503 ? RETRY_AFTER_S : undefined;
  return new ApiError(status, err.code, err.message, { field: err.field, details: err.details, retryAfter });
}

/** A request that carries no body: the runtime does not give a function the HTTP method, but a GET has none. */
const hasBody = (headers: Record<string, string>) =>
  headers['content-type'] !== undefined || Number(headers['content-length'] ?? 0) > 0;

export function endpoint(path: string, run: (req: EndpointRequest) => Promise<Reply>, opts: EndpointOptions) {
  return async (context: Context, event: Record<string, unknown>, callback: ServerlessCallback): Promise<void> => {
    const deadline = new Deadline();
    const errorReply = (status: number, body: object): Reply =>
      opts.twiml ? { status, twiml: EMPTY_TWIML } : { status, json: body };
    try {
      const config = loadConfig(context as unknown as Record<string, string | undefined>);
      useSandboxClock(config.sandboxClockFile);
      const upstream = new Upstream(deadline, config.upstreamConcurrency);
      const headers = headersOf(event);
      const req: EndpointRequest = { context, config, params: paramsOf(event), headers, path, deadline, upstream };
      req.caller = await opts.auth(req);
      if (opts.bodyRequired && !hasBody(headers)) {
        throw new ApiError(405, 'method_not_allowed', `${path} takes a POST with a form or JSON body`, {
          headers: { Allow: 'POST' },
        });
      }
      respond(callback, await run(req));
    } catch (thrown) {
      const domain =
        thrown instanceof DomainError ? thrown : thrown instanceof ApiError ? undefined : upstreamFailure(thrown);
      const err = domain ? httpErrorOf(domain) : thrown;
      if (err instanceof ApiError) {
        log.warn(`${path} answered ${err.status}`, { code: err.code, field: err.field, error: domain?.message });
        const retry: Record<string, string> =
          err.retryAfter === undefined ? {} : { 'Retry-After': String(err.retryAfter) };
        respond(callback, { ...errorReply(err.status, err.toJSON()), headers: { ...retry, ...err.headers } });
      } else if (err instanceof ConfigError) {
        // which variable is wrong is for the operator's log, not for whoever called
        log.error(`${path}: ${err.message}`);
        const message = 'the service is misconfigured; its log names what to fix';
        respond(callback, errorReply(500, { error: { code: 'misconfigured', message, field: null } }));
      } else {
        log.error(`${path} failed`, { error: errorText(err) });
        respond(callback, errorReply(500, { error: { code: 'internal', message: 'Internal error', field: null } }));
      }
    }
  };
}

export const emptyTwiml = (status = 200): Reply => ({ status, twiml: EMPTY_TWIML });
