/** SendGrid v3: Mail Send (202 + X-Message-Id), batch ids and scheduled-send pause/cancel. */
import { bearer, isObject, type Json, type Router, type SandboxRequest, type SandboxResponse } from './http';
import { sendgridId } from './ids';
import type { SandboxSettings } from './settings';
import type { SandboxState } from './state';
import type { Simulator } from './simulator';

const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;
const MAX_SEND_AT_AHEAD_S = 72 * 3600;

export function sendgridError(status: number, message: string, field: string | null = null): SandboxResponse {
  return { status, body: { errors: [{ message, field, help: null }] } };
}

/** Checks a Mail Send body the way SendGrid does; answers the first error found. */
function validateMail(body: Json, state: SandboxState): SandboxResponse | undefined {
  const personalizations = body.personalizations;
  if (!Array.isArray(personalizations) || personalizations.length === 0) {
    return sendgridError(
      400,
      'The personalizations field is required and must have at least one personalization.',
      'personalizations',
    );
  }
  for (const [i, p] of personalizations.entries()) {
    if (!isObject(p) || !Array.isArray(p.to) || p.to.length === 0) {
      return sendgridError(
        400,
        'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
        `personalizations.${i}.to`,
      );
    }
    for (const [j, to] of p.to.entries()) {
      if (!isObject(to) || typeof to.email !== 'string' || !EMAIL.test(to.email)) {
        return sendgridError(400, 'Does not contain a valid address.', `personalizations.${i}.to.${j}.email`);
      }
    }
  }
  const from = body.from;
  if (!isObject(from) || typeof from.email !== 'string' || !EMAIL.test(from.email)) {
    return sendgridError(
      400,
      'The from object must be provided for every email send. It is an object that requires an email parameter, but may also contain a name parameter.',
      'from',
    );
  }
  const hasTemplate = typeof body.template_id === 'string';
  const subjectEverywhere =
    (typeof body.subject === 'string' && body.subject !== '') ||
    personalizations.every((p) => typeof (p as Json).subject === 'string' && (p as Json).subject !== '');
  if (!hasTemplate && !subjectEverywhere) {
    return sendgridError(
      400,
      'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
      'subject',
    );
  }
  const content = body.content;
  if (!hasTemplate) {
    if (!Array.isArray(content) || content.length === 0) {
      return sendgridError(
        400,
        'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.',
        'content',
      );
    }
    for (const [i, c] of content.entries()) {
      if (!isObject(c) || typeof c.type !== 'string' || typeof c.value !== 'string' || c.value === '') {
        return sendgridError(
          400,
          'The content value must be a string at least one character in length.',
          `content.${i}.value`,
        );
      }
    }
    if (content.length > 1 && (content[0] as Json).type !== 'text/plain') {
      return sendgridError(
        400,
        'If present, text/plain content must be first, followed by any other content.',
        'content',
      );
    }
  }
  const customArgs = body.custom_args;
  if (customArgs !== undefined) {
    if (!isObject(customArgs) || Object.values(customArgs).some((v) => typeof v !== 'string')) {
      return sendgridError(
        400,
        'Invalid type. Expected: object, given: string. custom_args values must be strings.',
        'custom_args',
      );
    }
    if (Buffer.byteLength(JSON.stringify(customArgs)) > 10000)
      return sendgridError(400, 'custom_args exceeds 10,000 bytes', 'custom_args');
  }
  if (body.send_at !== undefined) {
    if (!Number.isInteger(body.send_at)) return sendgridError(400, 'send_at must be a UNIX timestamp', 'send_at');
    if ((body.send_at as number) - state.clock.now() / 1000 > MAX_SEND_AT_AHEAD_S) {
      return sendgridError(400, 'The send_at parameter cannot be scheduled more than 72 hours in advance.', 'send_at');
    }
  }
  if (body.batch_id !== undefined && (typeof body.batch_id !== 'string' || !state.sendgridBatches.has(body.batch_id))) {
    return sendgridError(400, 'The batch ID is invalid.', 'batch_id');
  }
  return undefined;
}

export function registerSendgridApi(
  router: Router,
  state: SandboxState,
  settings: SandboxSettings,
  sim: Simulator,
): void {
  const guard =
    (h: (req: SandboxRequest) => SandboxResponse) =>
    (req: SandboxRequest): SandboxResponse => {
      if (bearer(req) !== settings.sendgridApiKey) {
        return sendgridError(401, 'The provided authorization grant is invalid, expired, or revoked');
      }
      return h(req);
    };
  const jsonBody = (req: SandboxRequest): { body: Json } | { error: SandboxResponse } =>
    req.jsonError || !isObject(req.json) ? { error: sendgridError(400, 'Bad Request') } : { body: req.json };

  router.on(
    'POST',
    '/v3/mail/send',
    guard((req) => {
      const parsed = jsonBody(req);
      if ('error' in parsed) return parsed.error;
      const body = parsed.body;
      const invalid = validateMail(body, state);
      if (invalid) return invalid;
      const messageId = sendgridId();
      const sendAt = body.send_at as number | undefined;
      const scheduled = sendAt !== undefined && sendAt * 1000 > state.clock.now();
      const record = {
        request: body,
        resource: {
          message_id: messageId,
          status: scheduled ? 'scheduled' : 'sent',
          send_at: sendAt ?? null,
          batch_id: body.batch_id ?? null,
        },
        schedule: {
          messageId,
          batchId: body.batch_id as string | undefined,
          sendAt: sendAt !== undefined ? sendAt * 1000 : undefined,
          status: scheduled ? ('scheduled' as const) : ('sent' as const),
        },
      };
      state.emails.push(record);
      if (!scheduled) sim.deliverEmail(record);
      return { status: 202, headers: { 'X-Message-Id': messageId } };
    }),
  );

  router.on(
    'POST',
    '/v3/mail/batch',
    guard(() => {
      const batchId = sendgridId(24).replace(/[-_]/g, 'x');
      state.sendgridBatches.set(batchId, {});
      return { status: 201, body: { batch_id: batchId } };
    }),
  );

  router.on(
    'GET',
    '/v3/mail/batch/:batch_id',
    guard((req) => {
      return state.sendgridBatches.has(req.params.batch_id)
        ? { status: 200, body: { batch_id: req.params.batch_id } }
        : sendgridError(400, 'invalid batch id', 'batch_id');
    }),
  );

  const STATUSES = ['pause', 'cancel'];
  router.on(
    'POST',
    '/v3/user/scheduled_sends',
    guard((req) => {
      const parsed = jsonBody(req);
      if ('error' in parsed) return parsed.error;
      const body = parsed.body;
      const batchId = body.batch_id;
      const status = body.status;
      const batch = typeof batchId === 'string' ? state.sendgridBatches.get(batchId) : undefined;
      if (!batch) return sendgridError(400, 'The batch ID is invalid.', 'batch_id');
      if (typeof status !== 'string' || !STATUSES.includes(status))
        return sendgridError(400, 'status must be pause or cancel', 'status');
      if (batch.status) return sendgridError(400, `batch ${batchId} already has status ${batch.status}`, 'batch_id');
      batch.status = status as 'pause' | 'cancel';
      return { status: 201, body: { batch_id: batchId, status } };
    }),
  );

  router.on(
    'GET',
    '/v3/user/scheduled_sends',
    guard(() => ({
      status: 200,
      body: [...state.sendgridBatches]
        .filter(([, b]) => b.status)
        .map(([batch_id, b]) => ({ batch_id, status: b.status })),
    })),
  );

  router.on(
    'GET',
    '/v3/user/scheduled_sends/:batch_id',
    guard((req) => {
      const batch = state.sendgridBatches.get(req.params.batch_id);
      if (!batch?.status) return sendgridError(404, 'batch id not found', 'batch_id');
      return { status: 200, body: [{ batch_id: req.params.batch_id, status: batch.status }] };
    }),
  );

  router.on(
    'PATCH',
    '/v3/user/scheduled_sends/:batch_id',
    guard((req) => {
      const batch = state.sendgridBatches.get(req.params.batch_id);
      const parsed = jsonBody(req);
      if (!batch?.status) return sendgridError(404, 'batch id not found', 'batch_id');
      if ('error' in parsed) return parsed.error;
      const body = parsed.body;
      if (typeof body.status !== 'string' || !STATUSES.includes(body.status))
        return sendgridError(400, 'status must be pause or cancel', 'status');
      batch.status = body.status as 'pause' | 'cancel';
      return { status: 204 };
    }),
  );

  router.on(
    'DELETE',
    '/v3/user/scheduled_sends/:batch_id',
    guard((req) => {
      const batch = state.sendgridBatches.get(req.params.batch_id);
      if (!batch?.status) return sendgridError(404, 'batch id not found', 'batch_id');
      delete batch.status;
      return { status: 204 };
    }),
  );
}
