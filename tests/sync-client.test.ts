/**
 * The Sync client's transport (src/lib/clients/sync.ts) against a server that misbehaves as a
 * network can: a connection dropped as a request goes out is sent again only when sending it twice
 * is harmless, and a server that never answers is a timeout, which the endpoints answer 503.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SyncClient } from '../src/lib/clients/sync';
import { loadConfig } from '../src/lib/config';
import { Deadline } from '../src/lib/deadline';
import { upstreamFailure } from '../src/lib/errors';
import { Upstream } from '../src/lib/upstream';
import { sandboxFunctionEnv } from '../sandbox/launch';

let server: Server;
let behave: (req: IncomingMessage, res: ServerResponse, n: number) => void;
const seen: string[] = [];
let client: SyncClient;

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${req.method} ${req.url}`);
      behave(req, res, seen.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  client = new SyncClient(loadConfig(sandboxFunctionEnv(url)), new Upstream(new Deadline(), 4));
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen.length = 0;
});

const document = (res: ServerResponse) =>
  res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"data":{"a":1},"revision":"7"}');

test('a read whose connection is dropped is sent again once, and answers', async () => {
  behave = (req, res, n) => (n === 1 ? req.socket.destroy() : document(res));
  await expect(client.fetchDocument('doc-a')).resolves.toEqual({ data: { a: 1 }, revision: '7' });
  expect(seen).toHaveLength(2);
});

test('a write over a revision is sent again too (a repeat is refused by its If-Match, never applied twice)', async () => {
  behave = (req, res, n) => (n === 1 ? req.socket.destroy() : document(res));
  await expect(client.updateDocument('doc-a', { a: 2 }, { ifMatch: '6' })).resolves.toMatchObject({ revision: '7' });
  expect(seen).toHaveLength(2);
});

test('a create or an append is not repeated (the first may have landed): the error is a network failure', async () => {
  behave = (req) => req.socket.destroy();
  const created = await client.createDocument('doc-b', { a: 1 }).catch((e: unknown) => e);
  const appended = await client.appendListItem('list-b', { a: 1 }).catch((e: unknown) => e);
  expect(seen).toEqual(['POST /v1/Services/default/Documents', 'POST /v1/Services/default/Lists/list-b/Items']);
  for (const err of [created, appended]) expect(upstreamFailure(err)?.code).toBe('upstream_unavailable');
});

test('a server that never answers is a timeout within the request timeout, answered as unavailable', async () => {
  behave = () => undefined;
  const started = Date.now();
  const err = await client.fetchDocument('doc-c').catch((e: unknown) => e);
  expect((err as Error).name).toBe('TimeoutError');
  expect(upstreamFailure(err)?.code).toBe('upstream_unavailable');
  expect(Date.now() - started).toBeLessThan(9_000);
}, 15_000);

test("an invocation's requests reuse its connections: no more are opened than its budget lets be in flight", async () => {
  // a server of its own, counting the connections made to it; answers after 1-5 ms, as a remote one varies
  let connections = 0;
  const counting = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => document(res), 1 + Math.floor(Math.random() * 5)));
  });
  counting.on('connection', () => connections++);
  await new Promise<void>((r) => counting.listen(0, '127.0.0.1', r));
  try {
    const url = `http://127.0.0.1:${(counting.address() as AddressInfo).port}`;
    const budget = 20;
    const own = new SyncClient(loadConfig(sandboxFunctionEnv(url)), new Upstream(new Deadline(), budget));
    await Promise.all(Array.from({ length: 600 }, (_, i) => own.fetchDocument(`doc-${i}`)));
    // undici opens another connection for a request sent while the one just answered is not yet
    // taken back, each a TLS handshake against Twilio; sync.ts answers a turn of the loop later, so
    // the next request finds it free. Seen: 21 (one more while the first ones were still opening);
    // answered at once, 35.
    expect(connections).toBeGreaterThan(0);
    expect(connections).toBeLessThanOrEqual(budget + 1);
  } finally {
    counting.closeAllConnections();
    await new Promise((r) => counting.close(r));
  }
});
