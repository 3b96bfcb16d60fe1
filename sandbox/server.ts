/** The sandbox HTTP server: one port on 127.0.0.1 for Twilio, Sync, SendGrid and Segment. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { AccountState, registerAccountApi, registerSegmentPublicApi, registerSendgridSettingsApi } from './account';
import { startFunctionsRuntime } from './functions-runtime';
import { contractRecorder } from './contract';
import { registerControlApi } from './control-api';
import { parseRequest, Router, type SandboxResponse, writeResponse } from './http';
import { registerSegmentApi } from './segment-api';
import { registerSendgridApi } from './sendgrid-api';
import { isLoopbackHost, type SandboxSettings, settingsFromEnv } from './settings';
import { Simulator } from './simulator';
import { type Api, SandboxState } from './state';
import { StudioEngine, registerStudioApi } from './studio';
import { registerSyncApi } from './sync-api';
import { registerTwilioApi, twilioGuard, twilioNotFound } from './twilio-api';
import { registerPricingApi } from './pricing';
import { registerWhatsAppApi, WhatsAppState } from './whatsapp';
import { TOO_MANY_REQUESTS } from './upstream-limits';

const BODY_LIMIT = 8 * 1024 * 1024;

/**
 * What the sandbox refuses before reading a request: a Host that is not loopback (a DNS-rebinding
 * page reads nothing), and, on its own control routes and dashboard, a foreign Origin or a body that
 * is not exactly application/json (a page could otherwise post text/plain without a preflight).
 */
export function foreignRequest(req: IncomingMessage): { status: number; message: string } | undefined {
  const host = String(req.headers.host ?? '');
  let hostname = '';
  try {
    hostname = new URL(`http://${host}`).hostname;
  } catch {
    // no usable Host: refused below
  }
  if (!isLoopbackHost(hostname)) return { status: 403, message: 'the sandbox answers loopback hosts only' };
  const path = routedPath((req.url ?? '/').split('?')[0], headerOf(req, 'x-twilio-host'));
  if (apiOf(path)) return undefined; // the vendors' APIs: authenticated as the vendors do
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) {
    return { status: 403, message: 'the sandbox is controlled from its own page only' };
  }
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (req.method !== 'GET' && req.method !== 'HEAD' && type !== 'application/json') {
    return { status: 415, message: 'control requests take Content-Type: application/json' };
  }
  return undefined;
}

/**
 * Twilio's products answer on hosts of their own (api., sync., messaging., serverless., studio., pricing.)
 * with overlapping paths (/v1/Services is three different resources). The sandbox serves them all
 * on one loopback port: a client pointed at it names the host it meant in X-Twilio-Host (the
 * functions' and the setup's clients do, clients/twilio.ts), and those products' routes are
 * registered under `/<product>` here. No header means api. or sync., as before.
 */
export const ROUTED_PRODUCTS = ['messaging', 'serverless', 'studio', 'pricing', 'content'] as const;
export function routedPath(path: string, twilioHost: string | undefined): string {
  const product = (twilioHost ?? '').split('.')[0];
  return (ROUTED_PRODUCTS as readonly string[]).includes(product) ? `/${product}${path}` : path;
}

const headerOf = (req: IncomingMessage, name: string) => {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
};

/** Which upstream API a (routed) path belongs to (for fault injection and request counts). */
export function apiOf(path: string): Api | undefined {
  if (path.startsWith('/2010-04-01/')) return 'twilio';
  if (ROUTED_PRODUCTS.some((p) => path.startsWith(`/${p}/v`))) return 'twilio';
  if (path.startsWith('/spaces/')) return 'segment';
  if (path === '/v1/Services' || path.startsWith('/v1/Services/')) return 'sync';
  if (path.startsWith('/v3/')) return 'sendgrid';
  if (path.startsWith('/v1/spaces/')) return 'profiles';
  if (/^\/v1\/(track|identify|batch|page|screen|group|alias)$/.test(path)) return 'segment';
  return undefined;
}

export interface Sandbox {
  server: Server;
  state: SandboxState;
  simulator: Simulator;
  url: string;
  close(): Promise<void>;
}

/** The sandbox's state and every API it serves, on one router. */
function sandboxOf(settings: SandboxSettings) {
  const state = new SandboxState(settings.simulate, settings.clockFile);
  state.account = new AccountState(settings, () => state.clock.now());
  state.whatsapp = new WhatsAppState(settings, () => state.clock.now(), settings.account === 'wired');
  const simulator = new Simulator(state, settings, Number(process.env.SANDBOX_CALLBACK_DELAY_MS ?? 100));
  const router = new Router();
  registerTwilioApi(router, state, settings, simulator);
  registerPricingApi(router, twilioGuard(settings), twilioNotFound);
  registerWhatsAppApi(router, state.whatsapp, settings, twilioGuard(settings), twilioNotFound, (sid) =>
    state.account.messagingServices.some((s) => s.sid === sid),
  );
  registerSyncApi(router, state, settings);
  registerSendgridApi(router, state, settings, simulator);
  registerSegmentApi(router, state, settings);
  registerAccountApi(router, state, settings);
  registerSendgridSettingsApi(router, state, settings);
  registerSegmentPublicApi(router, state, settings);
  const studio = new StudioEngine(state);
  simulator.studio = studio;
  registerStudioApi(router, state, settings, studio);
  registerControlApi(router, state, settings, simulator);
  return { state, simulator, router };
}

/** The vendors' routes the sandbox serves, as (method, routed path pattern): what `npm run specs:trim` keeps. */
export function servedRoutes(settings = settingsFromEnv({})): Array<{ method: string; path: string }> {
  return sandboxOf(settings)
    .router.list()
    .filter(({ path }) => apiOf(path.replace(/:\w+/g, 'x')) !== undefined);
}

export function startSandbox(settings: SandboxSettings, host = '127.0.0.1'): Promise<Sandbox> {
  const { state, simulator, router } = sandboxOf(settings);
  const contract = contractRecorder(process.env.SANDBOX_CONTRACT_LOG);
  /** connections already counted (upstream-limits.ts counts each at its first request to an API) */
  const counted = new WeakSet<object>();
  const server = createServer(async (req, res) => {
    try {
      const refused = foreignRequest(req);
      if (refused) {
        req.resume();
        writeResponse(res, { status: refused.status, body: { error: refused.message } });
        return;
      }
      const parsed = await parseRequest(req, BODY_LIMIT);
      parsed.path = routedPath(parsed.path, headerOf(req, 'x-twilio-host'));
      const api = apiOf(parsed.path);
      if (api && !counted.has(req.socket)) {
        counted.add(req.socket);
        state.upstream.connected(api);
      }
      if (api && !state.upstream.enter(api)) {
        writeResponse(res, { status: 429, body: TOO_MANY_REQUESTS });
        return;
      }
      // the request holds its place in the account's concurrency until it is answered
      if (api) res.once('close', () => state.upstream.leave(api));
      if (api) await state.upstream.delay(api);
      if (api) {
        state.requestCounts[api] = (state.requestCounts[api] ?? 0) + 1;
        const fault = state.faults.get(api);
        const matches =
          fault &&
          (!fault.method || fault.method === parsed.method) &&
          (!fault.path || parsed.path.includes(fault.path));
        if (fault && matches && fault.remaining > 0) {
          fault.remaining--;
          if (fault.latencyMs) await new Promise((r) => setTimeout(r, fault.latencyMs));
          if (fault.drop) {
            req.socket.destroy();
            return;
          }
          if (fault.status) {
            const body =
              fault.body ??
              (api === 'sendgrid'
                ? { errors: [{ message: 'injected fault', field: null }] }
                : {
                    code: 20500,
                    message: 'injected fault',
                    more_info: 'https://www.twilio.com/docs/errors/20500',
                    status: fault.status,
                  });
            writeResponse(res, { status: fault.status, body, headers: fault.headers });
            return;
          }
        }
      }
      const match = router.match(parsed.method, parsed.path);
      let out: SandboxResponse;
      if (match === undefined)
        out = {
          status: 404,
          body: {
            code: 20404,
            message: `The requested resource ${parsed.path} was not found`,
            more_info: 'https://www.twilio.com/docs/errors/20404',
            status: 404,
          },
        };
      else if (match === 'method')
        out = {
          status: 405,
          body: {
            code: 20004,
            message: 'Method not allowed',
            more_info: 'https://www.twilio.com/docs/errors/20004',
            status: 405,
          },
        };
      else out = await match.handler({ ...parsed, params: match.params, rawParams: match.rawParams });
      // a route the sandbox serves (an unknown path's 404 is Twilio's answer too)
      if (api && contract && typeof match === 'object') contract.record(parsed, out);
      writeResponse(res, out);
    } catch (err) {
      writeResponse(res, { status: 500, body: { error: (err as Error).message } });
    }
  });

  // longer than any client keeps an idle connection (undici: 4 s): with Node's default 5 s, a client
  // reusing a connection the server is just closing sees "other side closed" on a busy machine
  server.keepAliveTimeout = 65_000;
  const runtime = settings.runtime
    ? startFunctionsRuntime(settings.runtime.port, settings.runtime.targetPort, state.invocations)
    : Promise.resolve([]);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, host, async () => {
      const fronts = await runtime.catch((err) => {
        reject(err);
        return undefined;
      });
      if (!fronts) return;
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : settings.port;
      resolve({
        server,
        state,
        simulator,
        url: `http://${host}:${port}`,
        close: async () => {
          for (const s of [server, ...fronts]) s.closeAllConnections();
          await Promise.all([server, ...fronts].map((s) => new Promise((r) => s.close(r))));
        },
      });
    });
  });
}
