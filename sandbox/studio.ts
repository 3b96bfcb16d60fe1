/**
 * Twilio Studio v2 as the sandbox serves it: Flows (create, update, list), Flows/Validate,
 * Executions with their Steps and Context, and an engine that runs a flow's widgets the way
 * Studio does, for the widget types a flow calling this service needs (trigger, set-variables,
 * make-http-request, split-based-on, send-message). Liquid templates are rendered by liquidjs,
 * the engine Studio's `{{…}}` syntax comes from.
 *
 * Validation enforces what Studio refuses to publish: states exist (with one trigger, named by
 * initial_state), every transition points to an existing state, every widget type is known, and
 * each widget has its required properties.
 */
import { Liquid } from 'liquidjs';
import { field, type Router, type SandboxRequest, type SandboxResponse } from './http';
import { sid } from './ids';
import type { SandboxSettings } from './settings';
import type { SandboxState } from './state';
import { twilioError, twilioGuard, twilioNotFound } from './twilio-api';

/** Studio's widget types (the Console's library); the engine runs the first five. */
const RUNNABLE = ['trigger', 'set-variables', 'make-http-request', 'split-based-on', 'send-message'] as const;
const KNOWN_TYPES = new Set<string>([
  ...RUNNABLE,
  'send-and-wait-for-reply',
  'run-function',
  'say-play',
  'gather-input-on-call',
  'connect-call-to',
  'record-voicemail',
  'record-call',
  'enqueue-call',
  'send-to-flex',
  'make-outgoing-call-v2',
  'add-twiml-redirect',
  'capture-payments',
  'fork-stream',
  'connect-virtual-agent',
  'set-language',
]);
/** properties a widget must have, per type */
const REQUIRED: Record<string, string[]> = {
  'make-http-request': ['method', 'url', 'content_type'],
  'split-based-on': ['input'],
  'set-variables': ['variables'],
  'send-message': ['body'],
  'send-and-wait-for-reply': ['body'],
  'run-function': ['url'],
  'say-play': [],
};
const MAX_STEPS = 200;
const HTTP_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 64 * 1024;

interface State {
  name: string;
  type: string;
  transitions?: Array<{ event: string; next?: string; conditions?: Condition[] }>;
  properties?: Record<string, unknown>;
}
interface Condition {
  friendly_name?: string;
  arguments?: string[];
  type: string;
  value: string;
}
interface Definition {
  description?: string;
  states: State[];
  initial_state: string;
  flags?: Record<string, unknown>;
}
export interface Flow {
  sid: string;
  friendly_name: string;
  status: 'draft' | 'published';
  definition: Definition;
  revision: number;
  commit_message: string | null;
  date_created: string;
  date_updated: string;
}
interface Step {
  sid: string;
  name: string;
  type: string;
  transitioned_from: string;
  transitioned_to: string;
  context: Record<string, unknown>;
  date_created: string;
}
export interface Execution {
  sid: string;
  flow_sid: string;
  status: 'active' | 'ended';
  contact_channel_address: string;
  context: Record<string, unknown>;
  steps: Step[];
  date_created: string;
  date_updated: string;
  /** why it ended early (a failed widget with no transition ends it too, as Studio does) */
  error?: string;
}

/** What Studio would refuse in a definition; empty when valid. */
export function validateDefinition(raw: unknown): Array<{ message: string; property_path: string }> {
  const errors: Array<{ message: string; property_path: string }> = [];
  const def = raw as Partial<Definition> | undefined;
  if (!def || typeof def !== 'object') return [{ message: 'Definition must be a JSON object', property_path: '#' }];
  if (!Array.isArray(def.states) || def.states.length === 0)
    return [{ message: 'states must be a non-empty array', property_path: '#/states' }];
  const names = new Set<string>();
  def.states.forEach((s, i) => {
    if (!s || typeof s.name !== 'string' || !s.name)
      errors.push({ message: 'every state needs a name', property_path: `#/states/${i}/name` });
    else if (names.has(s.name))
      errors.push({ message: `duplicate state name ${s.name}`, property_path: `#/states/${i}/name` });
    else names.add(s.name);
  });
  if (typeof def.initial_state !== 'string' || !names.has(def.initial_state))
    errors.push({
      message: `initial_state ${String(def.initial_state)} is not a state`,
      property_path: '#/initial_state',
    });
  const triggers = def.states.filter((s) => s?.type === 'trigger');
  if (triggers.length !== 1)
    errors.push({ message: `a flow has exactly one trigger (found ${triggers.length})`, property_path: '#/states' });
  def.states.forEach((s, i) => {
    if (!s) return;
    if (!KNOWN_TYPES.has(s.type))
      errors.push({ message: `unknown widget type ${String(s.type)}`, property_path: `#/states/${i}/type` });
    for (const prop of REQUIRED[s.type] ?? []) {
      const v = s.properties?.[prop];
      if (v === undefined || v === null || v === '')
        errors.push({ message: `${s.name}: ${prop} is required`, property_path: `#/states/${i}/properties/${prop}` });
    }
    (s.transitions ?? []).forEach((t, j) => {
      if (t.next !== undefined && t.next !== '' && !names.has(t.next))
        errors.push({
          message: `${s.name}: transition ${t.event} points to ${t.next}, which is not a state`,
          property_path: `#/states/${i}/transitions/${j}/next`,
        });
    });
  });
  return errors;
}

const invalid = (errors: Array<{ message: string; property_path: string }>): SandboxResponse => ({
  status: 400,
  body: {
    code: 20001,
    message: 'Invalid Flow Definition',
    more_info: 'https://www.twilio.com/docs/errors/20001',
    status: 400,
    details: { errors, warnings: [] },
  },
});

/** Studio's comparisons: strings case-insensitively, numbers as numbers. */
export function conditionHolds(type: string, subject: string, value: string): boolean {
  const a = subject.trim().toLowerCase();
  const b = value.trim().toLowerCase();
  switch (type) {
    case 'equal_to':
      return a === b;
    case 'not_equal_to':
      return a !== b;
    case 'contains':
      return a.includes(b);
    case 'does_not_contain':
      return !a.includes(b);
    case 'starts_with':
      return a.startsWith(b);
    case 'does_not_start_with':
      return !a.startsWith(b);
    case 'matches_any_of':
      return b.split(',').some((x) => x.trim() === a);
    case 'does_not_match_any_of':
      return !b.split(',').some((x) => x.trim() === a);
    case 'is_blank':
      return a === '';
    case 'is_not_blank':
      return a !== '';
    case 'less_than':
      return Number(a) < Number(b);
    case 'greater_than':
      return Number(a) > Number(b);
    case 'regex':
      return new RegExp(value).test(subject);
    default:
      return false;
  }
}

export class StudioEngine {
  readonly flows: Flow[] = [];
  readonly executions: Execution[] = [];
  private readonly liquid = new Liquid({ strictFilters: true });
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly state: SandboxState) {}

  private now() {
    return new Date(this.state.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  /** Starts an execution; it runs in the background, as Studio's do. */
  start(flow: Flow, contact: string, channel: string, trigger: { event: string; data: Record<string, unknown> }) {
    const at = this.now();
    const executionSid = sid('FN');
    const execution: Execution = {
      sid: executionSid,
      flow_sid: flow.sid,
      status: 'active',
      contact_channel_address: contact,
      context: {
        flow: {
          flow_sid: flow.sid,
          sid: executionSid,
          channel: { address: channel },
          data: trigger.event === 'incomingRequest' ? (trigger.data.parameters ?? {}) : {},
          variables: {},
        },
        contact: { channel: { address: contact } },
        trigger: trigger.event === 'incomingRequest' ? { request: trigger.data } : { message: trigger.data },
        widgets: {},
      },
      steps: [],
      date_created: at,
      date_updated: at,
    };
    this.executions.push(execution);
    const run = this.run(flow, execution, trigger.event)
      .catch((err) => {
        execution.error = (err as Error).message;
      })
      .finally(() => {
        execution.status = 'ended';
        execution.date_updated = this.now();
        this.running.delete(run);
      });
    this.running.add(run);
    return execution;
  }

  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async run(flow: Flow, execution: Execution, event: string): Promise<void> {
    const states = new Map(flow.definition.states.map((s) => [s.name, s]));
    const widgets = execution.context.widgets as Record<string, Record<string, unknown>>;
    let current = states.get(flow.definition.initial_state);
    let outcome = event;
    let from = 'Trigger';
    for (let n = 0; current && n < MAX_STEPS; n++) {
      if (current.type !== 'trigger') {
        const result = await this.execute(current, execution.context);
        widgets[current.name] = result.context;
        outcome = result.event;
      }
      const next = current.transitions?.find((t) => t.event === outcome)?.next || undefined;
      execution.steps.push({
        sid: sid('FT'),
        name: current.name,
        type: current.type,
        transitioned_from: from,
        transitioned_to: next ?? 'Ended',
        context: widgets[current.name] ?? {},
        date_created: this.now(),
      });
      from = current.name;
      current = next ? states.get(next) : undefined;
    }
    if (current) execution.error = `stopped after ${MAX_STEPS} steps`;
  }

  private render(template: unknown, context: Record<string, unknown>): Promise<string> {
    return this.liquid.parseAndRender(String(template ?? ''), context);
  }

  private async execute(
    state: State,
    context: Record<string, unknown>,
  ): Promise<{ event: string; context: Record<string, unknown> }> {
    const p = state.properties ?? {};
    switch (state.type) {
      case 'set-variables': {
        const variables = (context.flow as { variables: Record<string, unknown> }).variables;
        for (const v of (p.variables as Array<{ key: string; value: string }>) ?? [])
          variables[v.key] = await this.render(v.value, context);
        return { event: 'next', context: {} };
      }
      case 'split-based-on': {
        const input = await this.render(p.input, context);
        for (const t of state.transitions ?? []) {
          if (t.event !== 'match') continue;
          const holds = await Promise.all(
            (t.conditions ?? []).map(async (c) =>
              conditionHolds(c.type, c.arguments?.length ? await this.render(c.arguments[0], context) : input, c.value),
            ),
          );
          if (holds.length > 0 && holds.every(Boolean)) return { event: 'match', context: { input } };
        }
        // a match transition is taken by its conditions; several with the same event: the first that holds
        return { event: 'noMatch', context: { input } };
      }
      case 'make-http-request':
        return this.httpRequest(p, context);
      case 'send-message':
        // Studio sends through the Messages API; the sandbox records it as sent
        return { event: 'sent', context: { body: await this.render(p.body, context) } };
      default:
        throw new Error(`the sandbox does not run ${state.type} widgets`);
    }
  }

  private async httpRequest(
    p: Record<string, unknown>,
    context: Record<string, unknown>,
  ): Promise<{ event: string; context: Record<string, unknown> }> {
    const url = new URL(await this.render(p.url, context));
    const headers: Record<string, string> = { 'User-Agent': 'TwilioStudio/2' };
    // credentials in the URL become Basic authentication, as Studio documents
    if (url.username || url.password) {
      const user = decodeURIComponent(url.username);
      const pass = decodeURIComponent(url.password);
      headers.Authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      url.username = '';
      url.password = '';
    }
    const method = String(p.method ?? 'GET').toUpperCase();
    const type = String(p.content_type ?? 'application/x-www-form-urlencoded;charset=utf-8');
    let body: string | undefined;
    const params = (p.parameters as Array<{ key: string; value: string }>) ?? [];
    const rendered = await Promise.all(params.map(async (x) => [x.key, await this.render(x.value, context)] as const));
    if (method === 'GET') for (const [k, v] of rendered) url.searchParams.append(k, v);
    else if (type.startsWith('application/json')) body = await this.render(p.body, context);
    else body = new URLSearchParams(rendered as Array<[string, string]>).toString();
    if (body !== undefined) headers['Content-Type'] = type;
    try {
      const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
      const text = await res.text();
      const contentType = res.headers.get('content-type') ?? '';
      let parsed: unknown;
      if (contentType.includes('json'))
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON after all: parsed stays empty, as in Studio
        }
      const ok = res.status >= 200 && res.status < 300 && Buffer.byteLength(text) <= MAX_RESPONSE_BYTES;
      return {
        event: ok ? 'success' : 'failed',
        context: { status_code: res.status, content_type: contentType, body: text, parsed: parsed ?? {} },
      };
    } catch (err) {
      return { event: 'failed', context: { status_code: 0, body: '', error: (err as Error).message } };
    }
  }
}

export function registerStudioApi(
  router: Router,
  state: SandboxState,
  settings: SandboxSettings,
  engine: StudioEngine,
) {
  const guard = twilioGuard(settings);
  const base = 'https://studio.twilio.com/v2';
  const flowView = (f: Flow) => ({
    ...f,
    account_sid: settings.accountSid,
    author_sid: null,
    valid: true,
    errors: [],
    warnings: [],
    webhook_url: `https://webhooks.twilio.com/v1/Accounts/${settings.accountSid}/Flows/${f.sid}`,
    url: `${base}/Flows/${f.sid}`,
    links: { revisions: `${base}/Flows/${f.sid}/Revisions`, executions: `${base}/Flows/${f.sid}/Executions` },
  });
  const execView = ({ steps: _s, context: _c, error: _e, ...x }: Execution) => ({
    ...x,
    account_sid: settings.accountSid,
    contact_sid: null,
    initiated_by: 'API',
    flow_version: engine.flows.find((f) => f.sid === x.flow_sid)?.revision ?? 1,
    url: `${base}/Flows/${x.flow_sid}/Executions/${x.sid}`,
    links: {
      steps: `${base}/Flows/${x.flow_sid}/Executions/${x.sid}/Steps`,
      execution_context: `${base}/Flows/${x.flow_sid}/Executions/${x.sid}/Context`,
    },
  });
  const parseDefinition = (req: SandboxRequest): { def?: Definition; error?: SandboxResponse } => {
    const raw = field(req.form, 'Definition');
    if (raw === undefined) return {};
    try {
      const def = JSON.parse(raw) as Definition;
      const errors = validateDefinition(def);
      return errors.length ? { error: invalid(errors) } : { def };
    } catch {
      return { error: invalid([{ message: 'Definition is not valid JSON', property_path: '#' }]) };
    }
  };
  const statusOf = (req: SandboxRequest) => {
    const s = field(req.form, 'Status');
    return s === 'draft' || s === 'published' ? s : undefined;
  };
  const findFlow = (key: string) => engine.flows.find((f) => f.sid === key);

  router.on(
    'POST',
    '/studio/v2/Flows/Validate',
    guard((req) => {
      if (!field(req.form, 'FriendlyName') || !statusOf(req) || field(req.form, 'Definition') === undefined)
        return twilioError(400, 20001, 'FriendlyName, Status and Definition are required');
      const { error } = parseDefinition(req);
      return error ?? { status: 200, body: { valid: true } };
    }),
  );
  router.on(
    'GET',
    '/studio/v2/Flows',
    guard(() => ({
      status: 200,
      body: { flows: engine.flows.map(flowView), meta: { page: 0, page_size: 50, key: 'flows', next_page_url: null } },
    })),
  );
  router.on(
    'POST',
    '/studio/v2/Flows',
    guard((req) => {
      const name = field(req.form, 'FriendlyName');
      const status = statusOf(req);
      if (!name || !status || field(req.form, 'Definition') === undefined)
        return twilioError(400, 20001, 'FriendlyName, Status and Definition are required');
      const { def, error } = parseDefinition(req);
      if (error || !def) return error ?? twilioError(400, 20001, 'Definition is required');
      const at = new Date(state.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const flow: Flow = {
        sid: sid('FW'),
        friendly_name: name,
        status,
        definition: def,
        revision: 1,
        commit_message: field(req.form, 'CommitMessage') ?? null,
        date_created: at,
        date_updated: at,
      };
      engine.flows.push(flow);
      return { status: 201, body: flowView(flow) }; // Twilio documents 201 Created for CreateFlow
    }),
  );
  router.on(
    'GET',
    '/studio/v2/Flows/:Sid',
    guard((req) => {
      const f = findFlow(req.params.Sid);
      return f ? { status: 200, body: flowView(f) } : twilioNotFound(req.path);
    }),
  );
  router.on(
    'POST',
    '/studio/v2/Flows/:Sid',
    guard((req) => {
      const f = findFlow(req.params.Sid);
      if (!f) return twilioNotFound(req.path);
      const status = statusOf(req);
      if (!status) return twilioError(400, 20001, 'Status is required');
      const { def, error } = parseDefinition(req);
      if (error) return error;
      f.status = status;
      if (def) f.definition = def;
      const name = field(req.form, 'FriendlyName');
      if (name) f.friendly_name = name;
      f.commit_message = field(req.form, 'CommitMessage') ?? f.commit_message;
      f.revision += 1;
      f.date_updated = new Date(state.clock.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return { status: 200, body: flowView(f) };
    }),
  );
  router.on(
    'POST',
    '/studio/v2/Flows/:FlowSid/Executions',
    guard((req) => {
      const f = findFlow(req.params.FlowSid);
      if (!f) return twilioNotFound(req.path);
      const to = field(req.form, 'To');
      const from = field(req.form, 'From');
      if (!to || !from) return twilioError(400, 20001, 'To and From are required');
      if (f.status !== 'published') return twilioError(400, 20001, `Flow ${f.sid} is not published`);
      if (
        engine.executions.some((x) => x.flow_sid === f.sid && x.contact_channel_address === to && x.status === 'active')
      )
        return twilioError(409, 20409, `Execution already active for contact ${to} in this flow`);
      let parameters: unknown = {};
      const raw = field(req.form, 'Parameters');
      if (raw !== undefined)
        try {
          parameters = JSON.parse(raw);
        } catch {
          return twilioError(400, 20001, 'Parameters must be a JSON string');
        }
      const x = engine.start(f, to, from, { event: 'incomingRequest', data: { to, from, parameters } });
      return { status: 201, body: execView(x) };
    }),
  );
  router.on(
    'GET',
    '/studio/v2/Flows/:FlowSid/Executions',
    guard((req) => {
      const f = findFlow(req.params.FlowSid);
      if (!f) return twilioNotFound(req.path);
      const executions = engine.executions.filter((x) => x.flow_sid === f.sid).map(execView);
      return {
        status: 200,
        body: { executions, meta: { page: 0, page_size: 50, key: 'executions', next_page_url: null } },
      };
    }),
  );
  const findExecution = (req: SandboxRequest) =>
    engine.executions.find((x) => x.flow_sid === req.params.FlowSid && x.sid === req.params.Sid);
  router.on(
    'GET',
    '/studio/v2/Flows/:FlowSid/Executions/:Sid',
    guard((req) => {
      const x = findExecution(req);
      return x ? { status: 200, body: execView(x) } : twilioNotFound(req.path);
    }),
  );
  router.on(
    'GET',
    '/studio/v2/Flows/:FlowSid/Executions/:Sid/Context',
    guard((req) => {
      const x = findExecution(req);
      if (!x) return twilioNotFound(req.path);
      return {
        status: 200,
        body: { account_sid: settings.accountSid, flow_sid: x.flow_sid, execution_sid: x.sid, context: x.context },
      };
    }),
  );
  router.on(
    'GET',
    '/studio/v2/Flows/:FlowSid/Executions/:Sid/Steps',
    guard((req) => {
      const x = findExecution(req);
      if (!x) return twilioNotFound(req.path);
      // newest first, as Studio lists them
      const steps = [...x.steps].reverse().map((s) => ({
        ...s,
        account_sid: settings.accountSid,
        flow_sid: x.flow_sid,
        execution_sid: x.sid,
        parent_step_sid: null,
      }));
      return { status: 200, body: { steps, meta: { page: 0, page_size: 50, key: 'steps', next_page_url: null } } };
    }),
  );
}
