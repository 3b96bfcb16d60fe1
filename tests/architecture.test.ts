/**
 * The structure docs/architecture.md describes, drawn from src/lib's imports by `npm run layers`:
 * no cycle (a module never reaches itself through its imports, nor a folder through its modules'),
 * so every import points down, on at most 9 layers of units (a folder of src/lib is one unit).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

test('src/lib has no import cycle, at most 9 layers, and nothing below the application layer imports it', () => {
  const out = execFileSync(process.execPath, [join(__dirname, '../scripts/layers.mjs'), '--json'], {
    encoding: 'utf8',
  });
  const { units, layers, unitCycles, modules, cycles, withinCycles, intoApp } = JSON.parse(out) as {
    units: number;
    layers: number;
    unitCycles: string[][];
    modules: number;
    cycles: string[][];
    withinCycles: string[];
    intoApp: string[];
  };
  expect(modules).toBeGreaterThan(50);
  expect({ cycles, withinCycles, unitCycles }).toEqual({ cycles: [], withinCycles: [], unitCycles: [] });
  expect(units).toBeGreaterThan(10);
  expect(layers).toBeLessThanOrEqual(9);
  // the application layer (src/lib/app: every module that takes Deps) is imported by the functions only
  expect(intoApp).toEqual([]);
});
