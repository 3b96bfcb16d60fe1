// `npm start`: build, then serve the functions on port 3000 with twilio-run.
// Without Twilio credentials in .env (or the environment) it starts the local
// sandbox on port 3001 and points the functions at it.
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
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
// `npm start -- --host 0.0.0.0`: listen on another address than loopback (real credentials only:
// the sandbox's functions are served on loopback whatever is asked)
const hostArg = process.argv.indexOf('--host');
const listenHost = hostArg > 0 ? process.argv[hostArg + 1] : undefined;
const sandboxPort = Number(process.env.SANDBOX_PORT || 3001);

if (hasCredentials) {
  console.log('Twilio credentials found: the functions will call the real Twilio, SendGrid and Segment APIs.');
} else {
  console.log('No Twilio credentials in .env: running against the LOCAL SANDBOX (nothing leaves this machine).');
  console.log(`  sandbox: http://127.0.0.1:${sandboxPort}/sandbox   functions: http://localhost:${functionsPort}`);
  console.log('  Copy .env.example to .env and fill in ACCOUNT_SID and AUTH_TOKEN to use the real APIs.');
}

// In sandbox mode the functions get the sandbox's credentials and URLs; of .env (or the
// environment) they take only these, which change behaviour rather than where requests go.
const SANDBOX_SETTABLE = [
  'QUIET_HOURS',
  'DEFAULT_TIMEZONE',
  'DEFAULT_LOCALE',
  'ROUTING_POLICY',
  'EVIDENCE_HALF_LIFE_DAYS',
  'ROUTING_TIME_BANDS',
  'PREFERRED_CHANNEL_TRAIT',
  'VOICE_JA',
  'VOICE_EN',
  'SMS_MAX_SEGMENTS',
  'SMS_MAX_SEGMENTS_STRICT',
  'MACHINE_DETECTION',
  'TRACK_REPLY_TEXT',
  'HOLDOUT_PERCENT',
  'HOLDOUT_POLICY',
  'FREQUENCY_CAP',
];
const settable = Object.fromEntries(
  SANDBOX_SETTABLE.map((name) => [name, process.env[name] ?? dotenv[name]]).filter(([, v]) => v !== undefined),
);

execFileSync(process.execPath, [`${root}scripts/build.mjs`], { stdio: 'inherit' });
const require = createRequire(import.meta.url);
const { launchLocal, sandboxFunctionEnv } = require(`${root}.build/sandbox/launch.js`);

// The configuration is checked before anything starts: every missing or malformed variable at once.
await build({
  entryPoints: [`${root}src/lib/config.ts`],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  outfile: `${root}.build/config.cjs`,
  logLevel: 'error',
});
const env = hasCredentials
  ? { ...dotenv, ...process.env }
  : { ...sandboxFunctionEnv(`http://127.0.0.1:${sandboxPort}`), ...settable };
try {
  require(`${root}.build/config.cjs`).loadConfig(env);
} catch (err) {
  console.error(`Not started. ${err.message}`);
  console.error(hasCredentials ? 'Set them in .env (see .env.example).' : 'Fix them in .env or the environment.');
  process.exit(1);
}
if (!hasCredentials && Object.keys(settable).length) {
  console.log(
    `  from .env / the environment: ${Object.entries(settable)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
}

const stack = await launchLocal({
  root,
  functionsPort,
  sandboxPort: hasCredentials ? undefined : sandboxPort,
  stdio: 'inherit',
  env: hasCredentials ? undefined : settable,
  listenHost,
});
console.log(
  `Ready: functions at ${stack.functionsUrl}${stack.sandboxUrl ? `, sandbox at ${stack.sandboxUrl}` : ''}. Ctrl-C stops.`,
);
if (stack.sandboxUrl)
  console.log(`  dashboard: ${stack.sandboxUrl}/  (live: notifications, callbacks, Segment, what was learned)`);
console.log(
  `  insights:  ${stack.functionsUrl}/insights.html  (engagement by group, the lift; asks for INSIGHTS_API_KEY)`,
);
const stop = () => stack.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
