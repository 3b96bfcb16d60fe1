/** `npm run sandbox`: the sandbox alone, configured from the environment (and .env). */
import { existsSync, readFileSync } from 'node:fs';
import { startSandbox } from './server';
import { settingsFromEnv, unsafeEnvironment } from './settings';

function loadDotEnv(path: string): void {
  if (!existsSync(path)) return;
  for (const line of readFileSync(path, 'utf8').split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (m && process.env[m[1]] === undefined) process.env[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2');
  }
}

async function main(): Promise<void> {
  if (!process.env.SANDBOX_NO_DOTENV) loadDotEnv('.env');
  const unsafe = unsafeEnvironment(process.env);
  if (unsafe) throw new Error(`refusing to start: ${unsafe}`);
  const settings = settingsFromEnv(process.env);
  const sandbox = await startSandbox(settings);
  console.log(`[sandbox] Twilio/Sync/SendGrid/Segment sandbox listening on ${sandbox.url}`);
  console.log(`[sandbox] callbacks go to ${settings.functionsUrl}; simulation ${settings.simulate ? 'on' : 'off'}`);
  // a stop says why: a sandbox that vanished mid-suite is otherwise a silent mystery
  const stop = (signal: string) => {
    console.log(`[sandbox] stopping on ${signal} (from the process that started it, or the system)`);
    void sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('exit', (code) => console.log(`[sandbox] exited with code ${code}`));
}

main().catch((err) => {
  console.error(`[sandbox] ${(err as Error).message}`);
  process.exit(1);
});
