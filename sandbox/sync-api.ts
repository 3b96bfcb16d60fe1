/** Twilio Sync v1 Documents: unique names, revisions with If-Match, TTLs. */
import { type Router, type SandboxRequest, type SandboxResponse, field } from './http';
import { sid } from './ids';
import type { SandboxSettings } from './settings';
import type { SandboxState, SyncDocument } from './state';
import { twilioAuthError, twilioError } from './twilio-api';

const MAX_DATA_BYTES = 16 * 1024;

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function registerSyncApi(router: Router, state: SandboxState, settings: SandboxSettings): void {
  const base = '/v1/Services/:ServiceSid/Documents';
  const key = (service: string, docSid: string) => `${service}/${docSid}`;

  /** Finds a live document by SID or unique name, dropping it when its TTL has passed. */
  function find(service: string, sidOrName: string): SyncDocument | undefined {
    for (const [k, doc] of state.syncDocuments) {
      if (doc.service_sid !== service || (doc.sid !== sidOrName && doc.unique_name !== sidOrName)) continue;
      if (doc.expiresAt !== undefined && doc.expiresAt <= state.clock.now()) {
        state.syncDocuments.delete(k);
        return undefined;
      }
      return doc;
    }
    return undefined;
  }

  function parseData(raw: string | undefined): { data?: unknown; error?: SandboxResponse } {
    if (raw === undefined) return { data: {} };
    if (Buffer.byteLength(raw) > MAX_DATA_BYTES)
      return { error: twilioError(400, 54006, 'Document data exceeds the 16 KiB limit') };
    try {
      const data = JSON.parse(raw);
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('not an object');
      return { data };
    } catch {
      return { error: twilioError(400, 54008, 'Invalid Document data: it must be a JSON object') };
    }
  }

  function parseTtl(raw: string | undefined): { ttl?: number; error?: SandboxResponse } {
    if (raw === undefined) return {};
    const ttl = Number(raw);
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 31536000)
      return { error: twilioError(400, 54011, `Invalid Ttl: ${raw}`) };
    return { ttl };
  }

  function setTtl(doc: SyncDocument, ttl: number | undefined): void {
    if (ttl === undefined) return;
    doc.expiresAt = ttl === 0 ? undefined : state.clock.now() + ttl * 1000;
    doc.date_expires = doc.expiresAt === undefined ? null : iso(doc.expiresAt);
  }

  const guard = (h: (req: SandboxRequest) => SandboxResponse) => (req: SandboxRequest) =>
    twilioAuthError(req, settings) ?? h(req);
  const notFound = (req: SandboxRequest) => twilioError(404, 20404, `The requested resource ${req.path} was not found`);
  const publicDoc = ({ expiresAt: _expiresAt, ...doc }: SyncDocument) => doc;

  router.on(
    'POST',
    base,
    guard((req) => {
      const service = req.params.ServiceSid;
      const uniqueName = field(req.form, 'UniqueName');
      const { data, error } = parseData(field(req.form, 'Data'));
      if (error) return error;
      const ttl = parseTtl(field(req.form, 'Ttl'));
      if (ttl.error) return ttl.error;
      if (uniqueName !== undefined) {
        if (uniqueName.length > 320 || /^ET[0-9a-f]{32}$/.test(uniqueName))
          return twilioError(400, 54302, `Invalid unique name: ${uniqueName}`);
        if (find(service, uniqueName)) return twilioError(409, 54301, `Unique name already exists: ${uniqueName}`);
      }
      const docSid = sid('ET');
      const now = iso(state.clock.now());
      const url = `https://sync.twilio.com/v1/Services/${service}/Documents/${docSid}`;
      const doc: SyncDocument = {
        sid: docSid,
        unique_name: uniqueName ?? null,
        account_sid: settings.accountSid,
        service_sid: service,
        url,
        links: { permissions: `${url}/Permissions` },
        revision: '0',
        data,
        date_expires: null,
        date_created: now,
        date_updated: now,
        created_by: 'system',
      };
      setTtl(doc, ttl.ttl);
      state.syncDocuments.set(key(service, docSid), doc);
      return { status: 201, body: publicDoc(doc) };
    }),
  );

  router.on(
    'GET',
    `${base}/:Sid`,
    guard((req) => {
      const doc = find(req.params.ServiceSid, req.params.Sid);
      return doc ? { status: 200, body: publicDoc(doc) } : notFound(req);
    }),
  );

  router.on(
    'POST',
    `${base}/:Sid`,
    guard((req) => {
      const doc = find(req.params.ServiceSid, req.params.Sid);
      if (!doc) return notFound(req);
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined && ifMatch !== doc.revision) {
        return twilioError(
          412,
          54103,
          `The revision of the Document does not match the expected revision (If-Match ${String(ifMatch)}, current ${doc.revision})`,
        );
      }
      const rawData = field(req.form, 'Data');
      const { data, error } = rawData === undefined ? { data: doc.data, error: undefined } : parseData(rawData);
      if (error) return error;
      const ttl = parseTtl(field(req.form, 'Ttl'));
      if (ttl.error) return ttl.error;
      doc.data = data;
      doc.revision = String(Number(doc.revision) + 1);
      doc.date_updated = iso(state.clock.now());
      setTtl(doc, ttl.ttl);
      return { status: 200, body: publicDoc(doc) };
    }),
  );

  router.on(
    'DELETE',
    `${base}/:Sid`,
    guard((req) => {
      const doc = find(req.params.ServiceSid, req.params.Sid);
      if (!doc) return notFound(req);
      state.syncDocuments.delete(key(doc.service_sid, doc.sid));
      return { status: 204 };
    }),
  );
}
