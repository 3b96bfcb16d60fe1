// `npm start`: build, then serve the functions on port 3000 with twilio-run.
// Without Twilio credentials in .env (or the environment) it starts the local
// sandbox on port 3001 and points the functions at it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseEnv } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dotenv = existsSync(`${root}.env`) ? parseEnv(readFileSync(`${root}.env`, 'utf8')) : {};
const hasCredentials = Boolean(
  (dotenv.ACCOUNT_SID || process.env.ACCOUNT_SID) && (dotenv.AUTH_TOKEN || process.env.AUTH_TOKEN),
);
const functionsPort = Number(process.env.PORT || 3000);
const sandboxPort = Number(process.env.SANDBOX_PORT || 3001);

if (hasCredentials) {
  console.log('Twilio credentials found: the functions will call the real Twilio, SendGrid and Segment APIs.');
} else {
  console.log('No Twilio credentials in .env: running against the LOCAL SANDBOX (nothing leaves this machine).');
  console.log(`  sandbox: http://127.0.0.1:${sandboxPort}/sandbox   functions: http://localhost:${functionsPort}`);
  console.log('  Copy .env.example to .env and fill in ACCOUNT_SID and AUTH_TOKEN to use the real APIs.');
}

execFileSync(process.execPath, [`${root}scripts/build.mjs`], { stdio: 'inherit' });
const { launchLocal } = createRequire(import.meta.url)(`${root}.build/sandbox/launch.js`);
const stack = await launchLocal({
  root,
  functionsPort,
  sandboxPort: hasCredentials ? undefined : sandboxPort,
  stdio: 'inherit',
});
console.log(
  `Ready: functions at ${stack.functionsUrl}${stack.sandboxUrl ? `, sandbox at ${stack.sandboxUrl}` : ''}. Ctrl-C stops.`,
);
const stop = () => stack.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
