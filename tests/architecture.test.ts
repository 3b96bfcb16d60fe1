/**
 * The structure docs/architecture.md describes, drawn from src/lib's imports by `npm run layers`:
 * no cycle (a module never reaches itself through its imports), so every import points down.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

test('src/lib has no import cycle', () => {
  const out = execFileSync(process.execPath, [join(__dirname, '../scripts/layers.mjs'), '--json'], {
    encoding: 'utf8',
  });
  const { modules, cycles, withinCycles } = JSON.parse(out) as {
    modules: number;
    cycles: string[][];
    withinCycles: string[];
  };
  expect(modules).toBeGreaterThan(50);
  expect({ cycles, withinCycles }).toEqual({ cycles: [], withinCycles: [] });
});
