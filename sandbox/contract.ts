/**
 * The vendors' contract, checked: every request the sandbox serves and every answer it gives, run
 * through the vendors' own OpenAPI documents (the trimmed copy in sandbox/specs, made by
 * `npm run specs:trim` from ../shared/specs).
 *
 * Why: a sandbox that answers unlike the vendor hides the bugs it exists to catch (an RFC 2822 date
 * where Twilio's v1 APIs write ISO 8601, a 200 where Studio documents 201). With
 * SANDBOX_CONTRACT_LOG=<dir> the sandbox records each exchange's operation and violations there,
 * one line per exchange; `tests/sandbox-contract.test.ts` reads what the whole suite produced.
 *
 * What is checked: the operation exists in the documents (method and path); a request's query and
 * form (or JSON) parameters are documented ones, with the documented types and enums; a 2xx answer
 * uses the documented status and its body matches the documented schema, formats included. Error
 * answers are not checked: the documents describe none.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { SandboxRequest, SandboxResponse } from './http';

/** Each trimmed document, and the prefix its paths are served under here (server.ts's routedPath). */
export const SPEC_FILES: ReadonlyArray<{ file: string; prefix: string }> = [
  { file: 'twilio_api_v2010.json', prefix: '' },
  { file: 'twilio_sync_v1.json', prefix: '' },
  { file: 'twilio_messaging_v1.json', prefix: '/messaging' },
  { file: 'twilio_serverless_v1.json', prefix: '/serverless' },
  { file: 'twilio_studio_v2.json', prefix: '/studio' },
  { file: 'twilio_pricing_v1.json', prefix: '/pricing' },
  { file: 'twilio_pricing_v2.json', prefix: '/pricing' },
  { file: 'twilio_content_v1.json', prefix: '/content' },
  { file: 'tsg_mail_v3.json', prefix: '' },
  { file: 'tsg_scheduled_sends_v3.json', prefix: '' },
  { file: 'tsg_webhooks_v3.json', prefix: '' },
  { file: 'tsg_tracking_settings_v3.json', prefix: '' },
];
/** Routed paths no vendor document describes (Segment publishes none): not checked. */
const UNDOCUMENTED = [/^\/v1\/(track|identify|batch)$/, /^\/v1\/spaces\//, /^\/spaces\//];

/** sandbox/specs, from the sources (tests) or the bundle in .build/sandbox */
export const SPECS_DIR =
  [join(__dirname, 'specs'), join(__dirname, '../../sandbox/specs')].find((d) => existsSync(d)) ?? '';

// biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document is untyped JSON
type Json = any;

interface Operation {
  name: string;
  pattern: RegExp;
  method: string;
  /** query parameters: their schema as one object schema */
  query?: ValidateFunction;
  queryNames: Set<string>;
  form?: ValidateFunction;
  formNames?: Set<string>;
  json?: ValidateFunction;
  /** documented status → body schema (undefined: no body) */
  answers: Map<number, ValidateFunction | undefined>;
}

/** RFC 2822 as Twilio's 2010 API writes it: `Sat, 05 Dec 2026 20:51:14 +0000`. */
const RFC_2822 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/;

function ajvFor(doc: Json): Ajv {
  // coerceTypes: form and query values arrive as strings (and a repeated key as several)
  // unicodeRegExp off: the documents' patterns are ECMAScript without the u flag (`\_` is an escape there)
  const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes: 'array', logger: false, unicodeRegExp: false });
  addFormats(ajv);
  // Twilio's examples and answers give `uri` relative to the host (the documents' known quirk), and
  // an unset URL as "" (the 2010 document's own IncomingPhoneNumbers example: "sms_fallback_url": "");
  // a form clears a URL the same way
  ajv.addFormat('uri', (s: string) => s === '' || s.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(s));
  ajv.addFormat('date-time-rfc-2822', (s: string) => RFC_2822.test(s));
  for (const f of ['phone-number', 'uri-map', 'currency', 'sid', 'http-method', 'int32', 'int64', 'float', 'double'])
    ajv.addFormat(f, () => true);
  ajv.addSchema({ components: rebased(doc.components ?? {}) }, 'doc');
  return ajv;
}

/**
 * A schema as Ajv takes it: `#/…` refs made absolute into the document registered as `doc`, and
 * OpenAPI's `nullable` left out where no `type` goes with it (Ajv refuses it alone).
 */
function rebased(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(rebased);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'nullable' && schema.type === undefined) continue;
    out[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? `doc${v}` : rebased(v);
  }
  return out;
}

function compileDoc(doc: Json, prefix: string): Operation[] {
  const ajv = ajvFor(doc);
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths ?? {}) as Array<[string, Json]>) {
    const source = (prefix + path).replace(/[.]/g, '\\.').replace(/\{[^}]+\}/g, '[^/]+');
    for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
      const op = item[method];
      if (!op) continue;
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])].filter((p: Json) => p.in === 'query');
      const query = params.length
        ? ajv.compile(
            rebased({
              type: 'object',
              properties: Object.fromEntries(params.map((p: Json) => [p.name, p.schema ?? {}])),
              required: params.filter((p: Json) => p.required).map((p: Json) => p.name),
            }),
          )
        : undefined;
      const content = op.requestBody?.content ?? {};
      const formSchema = content['application/x-www-form-urlencoded']?.schema;
      const jsonSchema = content['application/json']?.schema;
      const answers = new Map<number, ValidateFunction | undefined>();
      for (const [status, r] of Object.entries(op.responses ?? {}) as Array<[string, Json]>) {
        const schema = r.content?.['application/json']?.schema;
        if (/^2\d\d$/.test(status)) answers.set(Number(status), schema ? ajv.compile(rebased(schema)) : undefined);
      }
      out.push({
        name: `${method.toUpperCase()} ${prefix}${path}`,
        pattern: new RegExp(`^${source}$`),
        method: method.toUpperCase(),
        query,
        queryNames: new Set(params.map((p: Json) => p.name)),
        form: formSchema ? ajv.compile(rebased(formSchema)) : undefined,
        formNames: formSchema?.properties ? new Set(Object.keys(formSchema.properties)) : undefined,
        json: jsonSchema ? ajv.compile(rebased(jsonSchema)) : undefined,
        answers,
      });
    }
  }
  return out;
}

const errorsOf = (v: ValidateFunction) =>
  (v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`);

/** One exchange as the checker sees it. */
export interface Exchange {
  method: string;
  /** the routed path (server.ts's routedPath) */
  path: string;
  query: Record<string, string | string[]>;
  form?: Record<string, string | string[]>;
  json?: unknown;
  status: number;
  answer?: unknown;
}

export class ContractChecker {
  private operations: Operation[];

  constructor(docs: Array<{ doc: Json; prefix: string }>) {
    this.operations = docs.flatMap(({ doc, prefix }) => compileDoc(doc, prefix));
  }

  /** The checker over the trimmed documents in `dir`. */
  static load(dir = SPECS_DIR): ContractChecker {
    // every document must be there: a missing one would pass its operations unchecked
    return new ContractChecker(
      SPEC_FILES.map(({ file, prefix }) => ({
        doc: JSON.parse(readFileSync(join(dir, file), 'utf8')),
        prefix,
      })),
    );
  }

  /** The operation an exchange is, and what in it the documents do not allow. */
  check(x: Exchange): { operation: string; violations: string[] } | undefined {
    if (UNDOCUMENTED.some((re) => re.test(x.path))) return undefined;
    const op = this.operations.find((o) => o.method === x.method && o.pattern.test(x.path));
    if (!op) return { operation: `${x.method} ${x.path}`, violations: ['no such operation in the documents'] };
    // a request is checked when the sandbox accepted it: one it refused (as the vendor would) is
    // its caller's test of that refusal; error answers are not documented
    const accepted = x.status >= 200 && x.status < 300;
    return {
      operation: op.name,
      violations: accepted ? [...requestViolations(op, x), ...answerViolations(op, x)] : [],
    };
  }
}

const copy = (o: unknown) => JSON.parse(JSON.stringify(o ?? {}));
const undocumented = (given: object, names: Set<string>) => Object.keys(given).filter((k) => !names.has(k));

function requestViolations(op: Operation, x: Exchange): string[] {
  const out = undocumented(x.query, op.queryNames).map((k) => `request: undocumented query parameter ${k}`);
  if (op.query && !op.query(copy(x.query))) out.push(...errorsOf(op.query).map((e) => `request query ${e}`));
  if (x.form && Object.keys(x.form).length) {
    if (!op.form) out.push('request: a form body where none is documented');
    else {
      if (op.formNames)
        out.push(...undocumented(x.form, op.formNames).map((k) => `request: undocumented parameter ${k}`));
      if (!op.form(copy(x.form))) out.push(...errorsOf(op.form).map((e) => `request ${e}`));
    }
  }
  if (x.json !== undefined && op.json && !op.json(copy(x.json)))
    out.push(...errorsOf(op.json).map((e) => `request body ${e}`));
  return out;
}

function answerViolations(op: Operation, x: Exchange): string[] {
  if (!op.answers.has(x.status))
    return [`answered ${x.status}; documented ${[...op.answers.keys()].join(', ') || 'no success'}`];
  const v = op.answers.get(x.status);
  return v && x.answer !== undefined && !v(copy(x.answer)) ? errorsOf(v).map((e) => `answer ${e}`) : [];
}

/**
 * With SANDBOX_CONTRACT_LOG=<dir>: checks every vendor exchange as it is answered and appends
 * `{ operation, status, violations }` to `<dir>/<pid>.jsonl` (a suite runs several sandboxes).
 */
export function contractRecorder(dir: string | undefined) {
  if (!dir) return undefined;
  mkdirSync(dir, { recursive: true });
  const checker = ContractChecker.load();
  const file = join(dir, `${process.pid}.jsonl`);
  return {
    record(req: SandboxRequest, out: SandboxResponse): void {
      const query: Record<string, string | string[]> = {};
      for (const k of new Set(req.query.keys())) {
        const all = req.query.getAll(k);
        query[k] = all.length > 1 ? all : all[0];
      }
      const isJson = String(req.headers['content-type'] ?? '').includes('json');
      const result = checker.check({
        method: req.method,
        path: req.path,
        query,
        form: isJson ? undefined : req.form,
        json: isJson ? req.json : undefined,
        status: out.status,
        answer: out.body,
      });
      if (!result) return;
      appendFileSync(
        file,
        `${JSON.stringify({ operation: result.operation, status: out.status, violations: result.violations })}\n`,
      );
    },
  };
}
