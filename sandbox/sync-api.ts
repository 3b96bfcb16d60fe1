/**
 * Twilio Sync v1 Documents and Lists: unique names, revisions with If-Match,
 * TTLs, the 16 KiB data limit and the per-object rate limits (sync-limits.ts).
 */
import { type Router, type SandboxRequest, type SandboxResponse, field } from './http';
import { sid } from './ids';
import type { SandboxSettings } from './settings';
import type { SandboxState, SyncDocument, SyncList, SyncListItem } from './state';
import type { Access } from './sync-limits';
import { twilioError, twilioGuard, twilioNotFound } from './twilio-api';

const MAX_DATA_BYTES = 16 * 1024;

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function registerSyncApi(router: Router, state: SandboxState, settings: SandboxSettings): void {
  const base = '/v1/Services/:ServiceSid/Documents';
  const key = (service: string, docSid: string) => `${service}/${docSid}`;

  /** unique name → map key, per kind of object (entries of deleted objects are dropped when met) */
  const names = new Map<Map<string, unknown>, Map<string, string>>();
  const nameIndex = (objects: Map<string, unknown>) => {
    const index = names.get(objects) ?? new Map<string, string>();
    names.set(objects, index);
    return index;
  };
  const remember = (objects: Map<string, unknown>, service: string, uniqueName: string | null, k: string) => {
    if (uniqueName !== null) nameIndex(objects).set(key(service, uniqueName), k);
  };

  /** Finds a live object by SID or unique name (indexed: the sandbox holds many), dropping it when its TTL has passed. */
  function findIn<T extends { sid: string; unique_name: string | null; service_sid: string; expiresAt?: number }>(
    objects: Map<string, T>,
    service: string,
    sidOrName: string,
  ): T | undefined {
    const index = nameIndex(objects);
    const k = objects.has(key(service, sidOrName)) ? key(service, sidOrName) : index.get(key(service, sidOrName));
    const o = k === undefined ? undefined : objects.get(k);
    if (!o || o.service_sid !== service || (o.sid !== sidOrName && o.unique_name !== sidOrName)) {
      if (k !== undefined && !o) index.delete(key(service, sidOrName));
      return undefined;
    }
    if (o.expiresAt !== undefined && o.expiresAt <= state.clock.now()) {
      objects.delete(k as string);
      return undefined;
    }
    return o;
  }
  /**
   * The Service a URL names, as Sync answers it (`service_sid`): `default` is the account's default
   * Service (every Twilio account has one), a unique name its Service's SID.
   */
  const serviceOf = (req: SandboxRequest): string => {
    const named = req.params.ServiceSid;
    const services = state.account?.syncServices ?? [];
    const s =
      named === 'default'
        ? services.find((x) => x.friendly_name === 'default')
        : services.find((x) => x.sid === named || x.unique_name === named);
    return s?.sid ?? named;
  };
  const find = (service: string, sidOrName: string) => findIn(state.syncDocuments, service, sidOrName);
  const findList = (service: string, sidOrName: string) => findIn(state.syncLists, service, sidOrName);

  /** 429 54009 when the object has used its window's budget (the access is then not performed). */
  const throttle = (object: string, access: Access, bytes = 0): SandboxResponse | undefined =>
    state.syncLimits.admit(object, access, bytes)
      ? undefined
      : twilioError(
          429,
          54009,
          `Rate limit exceeded for ${object}: the rate of ${access}s exceeds the prescribed limits`,
        );
  const size = (data: unknown) => Buffer.byteLength(JSON.stringify(data ?? {}));

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

  function setTtl(doc: { expiresAt?: number; date_expires: string | null }, ttl: number | undefined): void {
    if (ttl === undefined) return;
    doc.expiresAt = ttl === 0 ? undefined : state.clock.now() + ttl * 1000;
    doc.date_expires = doc.expiresAt === undefined ? null : iso(doc.expiresAt);
  }

  /** The fields a Sync resource created now carries (its sid and URL path are the caller's). */
  function resource(service: string, url: string) {
    const now = iso(state.clock.now());
    return {
      account_sid: settings.accountSid,
      service_sid: service,
      url,
      revision: '0',
      date_expires: null,
      date_created: now,
      date_updated: now,
      created_by: 'system',
    };
  }

  /** A unique name Sync refuses (54302) or one already taken in the service (54301). */
  function uniqueNameError(uniqueName: string | undefined, sidPrefix: string, taken: boolean) {
    if (uniqueName === undefined) return undefined;
    if (uniqueName.length > 320 || new RegExp(`^${sidPrefix}[0-9a-f]{32}$`).test(uniqueName))
      return twilioError(400, 54302, `Invalid unique name: ${uniqueName}`);
    if (taken) return twilioError(409, 54301, `Unique name already exists: ${uniqueName}`);
    return undefined;
  }

  const guard = twilioGuard(settings);
  const notFound = (req: SandboxRequest) => twilioNotFound(req.path);
  const publicDoc = ({ expiresAt: _expiresAt, ...doc }: SyncDocument) => doc;

  router.on(
    'POST',
    base,
    guard((req) => {
      const service = serviceOf(req);
      const uniqueName = field(req.form, 'UniqueName');
      const { data, error } = parseData(field(req.form, 'Data'));
      if (error) return error;
      const ttl = parseTtl(field(req.form, 'Ttl'));
      if (ttl.error) return ttl.error;
      const nameError = uniqueNameError(uniqueName, 'ET', Boolean(uniqueName && find(service, uniqueName)));
      if (nameError) return nameError;
      const docSid = sid('ET');
      const limited = throttle(key(service, docSid), 'write', size(data));
      if (limited) return limited;
      const url = `https://sync.twilio.com/v1/Services/${service}/Documents/${docSid}`;
      const doc: SyncDocument = {
        ...resource(service, url),
        sid: docSid,
        unique_name: uniqueName ?? null,
        links: { permissions: `${url}/Permissions` },
        data,
      };
      setTtl(doc, ttl.ttl);
      state.syncDocuments.set(key(service, docSid), doc);
      remember(state.syncDocuments, service, doc.unique_name, key(service, docSid));
      return { status: 201, body: publicDoc(doc) };
    }),
  );

  router.on(
    'GET',
    `${base}/:Sid`,
    guard((req) => {
      const doc = find(serviceOf(req), req.params.Sid);
      if (!doc) return notFound(req);
      return throttle(key(doc.service_sid, doc.sid), 'read') ?? { status: 200, body: publicDoc(doc) };
    }),
  );

  router.on(
    'POST',
    `${base}/:Sid`,
    guard((req) => {
      const doc = find(serviceOf(req), req.params.Sid);
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
      const limited = throttle(key(doc.service_sid, doc.sid), 'write', size(data));
      if (limited) return limited;
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
      const doc = find(serviceOf(req), req.params.Sid);
      if (!doc) return notFound(req);
      const limited = throttle(key(doc.service_sid, doc.sid), 'write');
      if (limited) return limited;
      state.syncDocuments.delete(key(doc.service_sid, doc.sid));
      return { status: 204 };
    }),
  );

  registerLists();

  /** Lists: created by unique name, items appended (each a write on the list) and read in index order. */
  function registerLists(): void {
    const lists = '/v1/Services/:ServiceSid/Lists';
    const publicList = ({ expiresAt: _e, items: _i, nextIndex: _n, ...list }: SyncList) => list;
    const publicItem = ({ expiresAt: _e, ...item }: SyncListItem) => item;
    const live = (list: SyncList) => {
      list.items = list.items.filter((i) => i.expiresAt === undefined || i.expiresAt > state.clock.now());
      return list.items;
    };

    router.on(
      'POST',
      lists,
      guard((req) => {
        const service = serviceOf(req);
        const uniqueName = field(req.form, 'UniqueName');
        const ttl = parseTtl(field(req.form, 'Ttl') ?? field(req.form, 'CollectionTtl'));
        if (ttl.error) return ttl.error;
        const nameError = uniqueNameError(uniqueName, 'ES', Boolean(uniqueName && findList(service, uniqueName)));
        if (nameError) return nameError;
        const listSid = sid('ES');
        const limited = throttle(key(service, listSid), 'write');
        if (limited) return limited;
        const url = `https://sync.twilio.com/v1/Services/${service}/Lists/${listSid}`;
        const list: SyncList = {
          ...resource(service, url),
          sid: listSid,
          unique_name: uniqueName ?? null,
          links: { items: `${url}/Items`, permissions: `${url}/Permissions` },
          items: [],
          nextIndex: 0,
        };
        setTtl(list, ttl.ttl);
        state.syncLists.set(key(service, listSid), list);
        remember(state.syncLists, service, list.unique_name, key(service, listSid));
        return { status: 201, body: publicList(list) };
      }),
    );

    router.on(
      'GET',
      `${lists}/:Sid`,
      guard((req) => {
        const list = findList(serviceOf(req), req.params.Sid);
        if (!list) return notFound(req);
        return throttle(key(list.service_sid, list.sid), 'read') ?? { status: 200, body: publicList(list) };
      }),
    );

    router.on(
      'POST',
      `${lists}/:Sid/Items`,
      guard((req) => {
        const list = findList(serviceOf(req), req.params.Sid);
        if (!list) return notFound(req);
        const raw = field(req.form, 'Data');
        if (raw === undefined) return twilioError(400, 20001, 'Missing required parameter Data in the post body');
        const { data, error } = parseData(raw);
        if (error) return error;
        const ttl = parseTtl(field(req.form, 'ItemTtl') ?? field(req.form, 'Ttl'));
        if (ttl.error) return ttl.error;
        const limited = throttle(key(list.service_sid, list.sid), 'write', size(data));
        if (limited) return limited;
        const index = list.nextIndex++;
        const item: SyncListItem = {
          ...resource(list.service_sid, `${list.url}/Items/${index}`),
          index,
          list_sid: list.sid,
          data,
        };
        setTtl(item, ttl.ttl);
        list.items.push(item);
        list.revision = String(Number(list.revision) + 1);
        list.date_updated = item.date_updated;
        return { status: 201, body: publicItem(item) };
      }),
    );

    router.on(
      'GET',
      `${lists}/:Sid/Items`,
      guard((req) => {
        const list = findList(serviceOf(req), req.params.Sid);
        if (!list) return notFound(req);
        const pageSize = Number(req.query.get('PageSize') ?? 50);
        if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 100)
          return twilioError(400, 20001, `Invalid PageSize: ${req.query.get('PageSize')}`);
        const order = req.query.get('Order') ?? 'asc';
        const from = req.query.get('From');
        const exclusive = req.query.get('Bounds') === 'exclusive';
        const limited = throttle(key(list.service_sid, list.sid), 'read');
        if (limited) return limited;
        let items = live(list);
        if (order === 'desc') items = [...items].reverse();
        if (from !== null) {
          const f = Number(from);
          items = items.filter((i) =>
            order === 'desc' ? (exclusive ? i.index < f : i.index <= f) : exclusive ? i.index > f : i.index >= f,
          );
        }
        const page = items.slice(0, pageSize).map(publicItem);
        const url = `${list.url}/Items?PageSize=${pageSize}&Order=${order}`;
        const last = page.at(-1);
        const next = items.length > pageSize && last ? `${url}&From=${last.index}&Bounds=exclusive` : null;
        return {
          status: 200,
          body: {
            items: page,
            meta: {
              page: 0,
              page_size: pageSize,
              first_page_url: url,
              previous_page_url: null,
              url,
              next_page_url: next,
              key: 'items',
            },
          },
        };
      }),
    );
  }
}
