/**
 * Starts the local stack: the sandbox (optional) and twilio-run serving the
 * built functions. Shared by `npm start` and the test suite's global setup.
 */
import { sandboxTemplateSid } from './whatsapp';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { sendgridPostOf } from './sendgrid-signing';
import { SANDBOX_DEFAULTS } from './settings';

// Linux lends 32768-60999 (macOS 49152-65535) to outgoing connections: a port picked there can be
// taken by one of the suite's own client sockets between the pick and the child's bind. Below
// that range only listeners compete, and the trial bind sees them.
const PICK_FROM = 20_000;
const PICK_TO = 32_000;
/** ports this process has handed out: two picks before either is bound must still differ */
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    // no host: the widest bind, which fails if any address already holds the port
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PICK_FROM + randomInt(PICK_TO - PICK_FROM);
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${PICK_FROM} and ${PICK_TO}`);
}

/** The functions' environment when they run against the sandbox at `sandboxUrl`. */
export function sandboxFunctionEnv(sandboxUrl: string): Record<string, string> {
  return {
    ...SANDBOX_DEFAULTS,
    TWILIO_API_BASE_URL: sandboxUrl,
    SENDGRID_API_BASE_URL: sandboxUrl,
    SEGMENT_API_BASE_URL: sandboxUrl,
    SEGMENT_PROFILES_BASE_URL: sandboxUrl,
    // the sandbox account's WhatsApp sender and the templates setup would write by name
    WHATSAPP_SENDER: `whatsapp:${SANDBOX_DEFAULTS.TWILIO_PHONE_NUMBER}`,
    WHATSAPP_TEMPLATE_APPOINTMENT_REMINDER: sandboxTemplateSid('appointment_reminder'),
    WHATSAPP_TEMPLATE_PAYMENT_DUE: sandboxTemplateSid('payment_due'),
  };
}

/**
 * An Event Webhook batch as the sandbox's SendGrid posts it to the functions: each event bound to
 * its email's notification and user, SendGrid's body layout, Basic credentials and the wired
 * webhook's signature (for benches that make their own batches).
 */
export function sandboxEventWebhookPost(events: Array<Record<string, unknown>>) {
  return sendgridPostOf(events, {
    authToken: SANDBOX_DEFAULTS.AUTH_TOKEN,
    basic: `${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_USERNAME}:${SANDBOX_DEFAULTS.SENDGRID_WEBHOOK_PASSWORD}`,
  });
}

function toDotEnv(env: Record<string, string>): string {
  return `${Object.entries(env)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n')}\n`;
}

const sleep = (ms: number) => new Promise<undefined>((r) => setTimeout(() => r(undefined), ms));

async function waitFor(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  gaveUp: () => Error | undefined = () => undefined,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process for ${url} exited with code ${child.exitCode}`);
    const reason = gaveUp();
    if (reason) throw reason;
    // a timer of our own besides the abort: a listener that accepts and never answers must not
    // hold the loop (under jest the abort signal can come from another realm and never fire)
    const probe = fetch(url, { signal: AbortSignal.timeout(1000) }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
    const status = await Promise.race([probe, sleep(1000)]).catch(() => undefined);
    if (status !== undefined && status < 500) return;
    await sleep(150);
  }
  throw new Error(`timed out waiting for ${url}`);
}

export interface LaunchOptions {
  root: string;
  functionsPort: number;
  /** start the sandbox on this port and point the functions at it */
  sandboxPort?: number;
  /** extra variables for the functions (and the sandbox) */
  env?: Record<string, string>;
  /** the address the functions listen on without the sandbox (default loopback; `npm start -- --host`) */
  listenHost?: string;
  /** where child output goes: 'inherit', 'ignore' or an open file descriptor */
  stdio: 'inherit' | 'ignore' | number;
}

export interface LocalStack {
  functionsUrl: string;
  /** the twilio-run process serving the functions (benches read its CPU time) */
  functionsPid?: number;
  sandboxUrl?: string;
  /** the port twilio-run itself listens on (behind the sandbox's front door, or the functions' own) */
  twilioRunPort: number;
  stop(): Promise<void>;
}

/**
 * twilio-run answers a taken port with a terminal prompt for another one, and with no terminal
 * it waits there forever: the launch reads its output for the prompt and gives up at once.
 */
const PORT_PROMPT = /Port (\d+) is already in use/;

class PortTaken extends Error {}

export async function launchLocal(opts: LaunchOptions): Promise<LocalStack> {
  // twilio-run's port behind the sandbox is ours to pick again; the caller's own port is not
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchOnce(opts);
    } catch (err) {
      if (!(err instanceof PortTaken) || opts.sandboxPort === undefined || attempt === 3) throw err;
    }
  }
}

/** twilio-run's output, passed on to where the caller wants it, and read for the port prompt */
function passOn(stdio: LaunchOptions['stdio'], onText: (text: string) => void) {
  return (chunk: Buffer) => {
    onText(chunk.toString());
    if (stdio === 'inherit') process.stdout.write(chunk);
    else if (typeof stdio === 'number') writeSync(stdio, chunk);
  };
}

async function launchOnce(opts: LaunchOptions): Promise<LocalStack> {
  const children: ChildProcess[] = [];
  /** the stack's own files in .build (its clock, its functions' environment): gone with it */
  const files: string[] = [];
  const stop = async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    for (const f of files) rmSync(f, { force: true });
  };
  const functionsUrl = `http://localhost:${opts.functionsPort}`;
  // Against the sandbox, twilio-run listens on a port of its own and the sandbox serves the
  // functions' port in front of it with Twilio's limits (1 MB bodies, 10 s; functions-runtime.ts).
  const twilioRunPort = opts.sandboxPort !== undefined ? await freePort() : opts.functionsPort;
  // dist/ only changes on a rebuild, so twilio-run need not re-require every
  // module per request (--live) nor fork a process per request: ~20 ms instead of ~400 ms.
  // --no-logs: its request log prints query strings, which may hold phone numbers.
  // NODE_ENV=production (through --load-local-env: twilio-run replaces process.env
  // with the env file) keeps Express from answering malformed JSON with a stack trace.
  // loopback only unless asked (listen-host.cjs): twilio-run alone would listen on every interface
  const twilioRunArgs = [
    '-r',
    join(opts.root, 'scripts/listen-host.cjs'),
    join(opts.root, 'node_modules/twilio-run/bin/twilio-run.js'),
    'start',
    '--port',
    String(twilioRunPort),
    '--no-live',
    '--no-fork-process',
    '--no-logs',
    '--load-local-env',
  ];
  try {
    let sandboxUrl: string | undefined;
    if (opts.sandboxPort !== undefined) {
      sandboxUrl = `http://127.0.0.1:${opts.sandboxPort}`;
      // one clock for the sandbox and the functions (src/lib/clock.ts), one file per sandbox
      const clockFile = join(opts.root, `.build/sandbox-clock-${opts.sandboxPort}.json`);
      mkdirSync(dirname(clockFile), { recursive: true });
      files.push(clockFile);
      const functionEnv = {
        ...sandboxFunctionEnv(sandboxUrl),
        SANDBOX_CLOCK_FILE: clockFile,
        // the callbacks the functions hand the providers, and their own calls, go through the front door
        PUBLIC_BASE_URL: functionsUrl,
        ...(opts.env ?? {}),
      };
      const sandbox = spawn(process.execPath, [join(opts.root, '.build/sandbox/main.js')], {
        cwd: opts.root,
        env: {
          ...process.env,
          ...functionEnv,
          SANDBOX_PORT: String(opts.sandboxPort),
          SANDBOX_FUNCTIONS_URL: functionsUrl,
          SANDBOX_RUNTIME_PORT: String(opts.functionsPort),
          SANDBOX_RUNTIME_TARGET_PORT: String(twilioRunPort),
          SANDBOX_NO_DOTENV: '1',
        },
        stdio: ['ignore', opts.stdio, opts.stdio],
      });
      children.push(sandbox);
      await waitFor(`${sandboxUrl}/sandbox`, sandbox, 15000);
      // one file per stack: the test suite runs a second stack beside the first
      const envFile = join(opts.root, `.build/sandbox-${opts.functionsPort}.env`);
      mkdirSync(dirname(envFile), { recursive: true });
      writeFileSync(envFile, toDotEnv(functionEnv));
      files.push(envFile);
      twilioRunArgs.push('--env', envFile);
    }
    const functions = spawn(process.execPath, twilioRunArgs, {
      cwd: opts.root,
      env: {
        ...process.env,
        ...(opts.env ?? {}),
        FORCE_COLOR: '0',
        NODE_ENV: 'production',
        // behind the sandbox's front door, twilio-run is reached from loopback only, whatever was asked
        LISTEN_HOST: opts.sandboxPort === undefined ? (opts.listenHost ?? '127.0.0.1') : '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', opts.stdio],
    });
    children.push(functions);
    let portTaken: PortTaken | undefined;
    functions.stdout?.on(
      'data',
      passOn(opts.stdio, (text) => {
        const taken = PORT_PROMPT.exec(text);
        if (taken) portTaken ??= new PortTaken(`port ${taken[1]} is in use: twilio-run cannot listen there`);
      }),
    );
    await waitFor(`${functionsUrl}/health`, functions, 60000, () => portTaken);
    // the front door counted the health checks of the start (502s while twilio-run came up)
    if (sandboxUrl)
      await fetch(`${sandboxUrl}/sandbox/invocations/reset`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      }).then((r) => r.arrayBuffer());
    return { functionsUrl, sandboxUrl, functionsPid: functions.pid, twilioRunPort, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
