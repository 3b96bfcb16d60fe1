/**
 * Builds the service (type-check included), then starts the sandbox and
 * twilio-run on free ports, exactly as `npm start` does. Output of both goes
 * to .test-logs/stack.log, which the log-masking test reads.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, launchLocal, type LocalStack } from '../../sandbox/launch';
import { CONTRACT_DIR, LOG_FILE, STACK_FILE } from './paths';

declare global {
  // eslint-disable-next-line no-var
  var __STACK__: LocalStack | undefined;
}

export default async function globalSetup(): Promise<void> {
  const root = join(__dirname, '../..');
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  const [functionsPort, sandboxPort] = [await freePort(), await freePort()];
  mkdirSync(join(root, '.test-logs'), { recursive: true });
  // every sandbox of the run (this stack's and those tests start) checks its exchanges against the
  // vendors' documents; tests/sandbox-contract.test.ts reads the verdicts at the end
  rmSync(CONTRACT_DIR, { recursive: true, force: true });
  process.env.SANDBOX_CONTRACT_LOG = CONTRACT_DIR;
  const log = openSync(LOG_FILE, 'w');
  const stack = await launchLocal({
    root,
    functionsPort,
    sandboxPort,
    stdio: log,
    env: {
      SANDBOX_CALLBACK_DELAY_MS: '50',
      VOICE_EN: 'Google.en-US-Neural2-F',
      RECOVERY_SWEEP_SECONDS: '0',
      // these suites pin the tutorial's routing semantics; learning.e2e runs the default (learned) on a stack of its own
      ROUTING_POLICY: 'trait',
    },
  });
  globalThis.__STACK__ = stack;
  writeFileSync(STACK_FILE, JSON.stringify({ functionsUrl: stack.functionsUrl, sandboxUrl: stack.sandboxUrl }));
}
