/**
 * Runs last but one (tests/setup/sequencer.js): every request the suite's sandboxes served for a
 * vendor API and every answer they gave, checked against the vendors' own OpenAPI documents
 * (sandbox/contract.ts, over the trimmed copy in sandbox/specs) as they happened, must be valid.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTRACT_DIR } from './setup/paths';

interface Verdict {
  operation: string;
  status: number;
  violations: string[];
}
const verdicts: Verdict[] = existsSync(CONTRACT_DIR)
  ? readdirSync(CONTRACT_DIR).flatMap((f) =>
      readFileSync(join(CONTRACT_DIR, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Verdict),
    )
  : [];

test('the suite exercised every family of operations the sandbox serves', () => {
  const families = new Set(verdicts.map((v) => v.operation.split(' ')[1].split('/').slice(0, 3).join('/')));
  for (const f of [
    '/2010-04-01/Accounts',
    '/v1/Services',
    '/messaging/v1',
    '/serverless/v1',
    '/studio/v2',
    '/pricing/v1',
    '/pricing/v2',
    '/content/v1',
    '/v3/mail',
  ])
    expect([...families]).toContain(f);
  expect(verdicts.length).toBeGreaterThan(1000);
});

test('every request and answer is valid by the vendors’ documents', () => {
  // grouped: one line per operation, status and violation, with how often it happened
  const counts = new Map<string, number>();
  for (const v of verdicts)
    for (const why of v.violations) {
      const key = `${v.operation} → ${v.status}: ${why}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  expect([...counts].map(([key, n]) => `${n}× ${key}`)).toEqual([]);
});
