/**
 * The README runs as written: every shell example, in order, against the
 * suite's running functions and sandbox (the README's localhost:3000 and
 * 127.0.0.1:3001 pointed at them), each expected to succeed (curl with
 * --fail-with-body: an HTTP error fails the example). Commands that start or
 * deploy something, or run the suite itself, are left out, and named.
 */
import { execSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { API_KEY, sandbox, stack } from './helpers';

const ROOT = join(__dirname, '..');
/**
 * what a test cannot run: the suite itself, a second stack, a deploy or a live account's setup
 * (golive.e2e runs those against the sandbox), the long benchmarks (also as run on another Node.js
 * from the npm registry: `npx -y -p node@22 -- npm run bench:…`)
 */
const NOT_RUN =
  /^([A-Z_]+=\S+ )*(npx -y -p node@\d+ -- )?(npm ci|npm test|npm start|npm run (deploy|build|bench|simulate|demo|setup|doctor)\b|twilio )/;

/** The README's shell examples: continuation lines joined, comment lines dropped. */
export function shellExamples(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]);
  return blocks.flatMap((block) =>
    block
      .replace(/\\\n\s*/g, ' ')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#')),
  );
}

/** the README, its Japanese version and the documents it links, in reading order */
const DOCUMENTS = [
  'README.md',
  'README.ja.md',
  ...['api', 'learning', 'operations', 'going-live', 'sandbox', 'architecture'].map((d) => `docs/${d}.md`),
];

test('the documents hold the examples (none lost when the README was split)', () => {
  const runnable = DOCUMENTS.flatMap((d) => shellExamples(readFileSync(join(ROOT, d), 'utf8'))).filter(
    (c) => !NOT_RUN.test(c),
  );
  expect(runnable.length).toBeGreaterThanOrEqual(23); // README.md (15) and README.ja.md (8) before the split
});

test.each(DOCUMENTS)(
  'every shell example in %s succeeds when pasted in order',
  (readme) => {
    const commands = shellExamples(readFileSync(join(ROOT, readme), 'utf8'));
    const skipped = commands.filter((c) => NOT_RUN.test(c));
    const run = commands.filter((c) => !NOT_RUN.test(c));
    console.log(`${readme}: ${run.length} commands run; not run: ${skipped.map((c) => c.split(' #')[0]).join(' | ')}`);
    const functions = new URL(stack.functionsUrl).host;
    const sandboxHost = new URL(stack.sandboxUrl).host;
    rmSync(join(ROOT, 'reminders-1203.results.csv'), { force: true });
    return sandbox.reset(true).then(() => {
      for (const command of run) {
        const local = command
          .replaceAll('localhost:3000', functions)
          .replaceAll('127.0.0.1:3001', sandboxHost)
          .replace(/\bcurl -s /g, 'curl -s --fail-with-body ');
        try {
          execSync(local, {
            cwd: ROOT,
            shell: '/bin/bash',
            stdio: 'pipe',
            timeout: 60_000,
            env: { ...process.env, NOTIFY_URL: stack.functionsUrl, NOTIFY_API_KEY: API_KEY },
          });
        } catch (err) {
          const e = err as { status: number; stdout: Buffer; stderr: Buffer };
          throw new Error(`README command failed (exit ${e.status}):\n${command}\n${e.stdout}${e.stderr}`);
        }
      }
      rmSync(join(ROOT, 'reminders-1203.results.csv'), { force: true });
    });
  },
  120_000,
);
