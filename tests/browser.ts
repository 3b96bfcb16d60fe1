/** A real headless Chromium (@sparticuz/chromium, driven by playwright-core) for the page tests. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';

export async function launchChromium(): Promise<Browser> {
  // @sparticuz/chromium is an ES module (jest here runs CommonJS): ask a child process where its binary is
  const found = execFileSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      "import c from '@sparticuz/chromium'; console.log(JSON.stringify({ path: await c.executablePath(), args: c.args }))",
    ],
    { cwd: join(__dirname, '..'), encoding: 'utf8' },
  );
  const { path, args } = JSON.parse(found) as { path: string; args: string[] };
  return chromium.launch({ executablePath: path, args, headless: true });
}
