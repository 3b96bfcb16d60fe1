/**
 * Starting the local stack (sandbox/launch.ts), which every e2e suite, `npm start` and the
 * benches go through: a port conflict must fail at once and say so, never hang the run.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { freePort, launchLocal } from '../sandbox/launch';

test('freePort hands out distinct ports, below the range Linux lends to outgoing connections', async () => {
  const ports = await Promise.all(Array.from({ length: 40 }, () => freePort()));
  expect(new Set(ports).size).toBe(ports.length);
  for (const p of ports) {
    expect(p).toBeGreaterThanOrEqual(1024);
    expect(p).toBeLessThan(32_768);
  }
});

test('a port already taken is reported at once, not waited on (twilio-run would prompt for another)', async () => {
  const port = await freePort();
  // a listener that accepts and never answers: the health probe's connections hang on it
  const sockets: Socket[] = [];
  const holder: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => holder.listen(port, r));
  try {
    const started = Date.now();
    await expect(launchLocal({ root: join(__dirname, '..'), functionsPort: port, stdio: 'ignore' })).rejects.toThrow(
      `port ${port} is in use`,
    );
    // well before the 60 s the launch otherwise allows twilio-run to come up
    expect(Date.now() - started).toBeLessThan(45_000);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => holder.close(r));
  }
}, 60_000);
