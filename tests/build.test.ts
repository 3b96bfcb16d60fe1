/** The build's output is deployable: self-contained functions, clean assets, config pointing at dist. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { ROOT } from './setup/paths';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const functionsDir = join(ROOT, 'dist/functions');

describe('build output', () => {
  const built = files(functionsDir)
    .map((f) => relative(functionsDir, f))
    .sort();

  test('every source function is bundled to the same path and suffix', () => {
    const sources = files(join(ROOT, 'src/functions'))
      .map((f) => relative(join(ROOT, 'src/functions'), f).replace(/\.ts$/, '.js'))
      .sort();
    expect(built).toEqual(sources);
    expect(built).toEqual(
      expect.arrayContaining([
        'notify.js',
        'sms/status.protected.js',
        'sms/inbound.protected.js',
        'voice/status.protected.js',
        'voice/gather.protected.js',
        'email/events.js',
      ]),
    );
  });

  test.each(files(functionsDir).map((f) => [relative(functionsDir, f), f]))(
    '%s requires no relative path and only runtime dependencies',
    (_name, file) => {
      const source = readFileSync(file, 'utf8');
      const required = [...source.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
      expect(required.filter((r) => r.startsWith('.') || r.startsWith('/'))).toEqual([]);
      const packageOf = (r: string) => (r.startsWith('@') ? r.split('/').slice(0, 2).join('/') : r.split('/')[0]);
      const external = required.filter((r) => !r.startsWith('node:') && !builtinModules.includes(r)).map(packageOf);
      for (const name of external) expect(Object.keys(pkg.dependencies)).toContain(name);
      expect(source).toMatch(/exports\.handler|handler:/);
    },
  );

  test('assets are copied without TypeScript sources or source maps', () => {
    const assets = files(join(ROOT, 'dist/assets'));
    expect(assets.length).toBeGreaterThan(0);
    expect(assets.filter((f) => /\.(ts|map)$/.test(f))).toEqual([]);
  });

  test('the Serverless Toolkit config serves and deploys the built output on node22', () => {
    const rc = readFileSync(join(ROOT, '.twilioserverlessrc'), 'utf8');
    expect(rc).toMatch(/"functionsFolder":\s*"dist\/functions"/);
    expect(rc).toMatch(/"assetsFolder":\s*"dist\/assets"/);
    expect(rc).toMatch(/"runtime":\s*"node22"/);
  });

  test('the runtime handler is pinned exactly (request headers depend on it)', () => {
    expect(pkg.dependencies['@twilio/runtime-handler']).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
