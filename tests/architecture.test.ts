/**
 * The structure docs/architecture.md describes, drawn from src/lib's imports by `npm run layers`:
 * no cycle (a module never reaches itself through its imports), so every import points down.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

test('src/lib has no import cycle, and nothing below the application layer imports it', () => {
  const out = execFileSync(process.execPath, [join(__dirname, '../scripts/layers.mjs'), '--json'], {
    encoding: 'utf8',
  });
  const { modules, cycles, withinCycles, intoApp } = JSON.parse(out) as {
    modules: number;
    cycles: string[][];
    withinCycles: string[];
    intoApp: string[];
  };
  expect(modules).toBeGreaterThan(50);
  expect({ cycles, withinCycles }).toEqual({ cycles: [], withinCycles: [] });
  // the application layer (src/lib/app: every module that takes Deps) is imported by the functions only
  expect(intoApp).toEqual([]);
});
