// Build: type-check, bundle each function into one self-contained CommonJS file
// (npm dependencies stay external: Twilio installs them from package.json on
// deploy), copy static assets, and bundle the dev-only sandbox.
//   node scripts/build.mjs               full build
//   node scripts/build.mjs --sandbox-only  only the sandbox (npm run sandbox)
//   node scripts/build.mjs --no-typecheck  skip tsc (tests that already type-checked)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));

function filesUnder(dir, keep) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return filesUnder(full, keep);
    return keep(full) ? [full] : [];
  });
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  logLevel: 'warning',
  absWorkingDir: root,
};

async function buildSandbox() {
  await build({
    ...common,
    entryPoints: [
      join(root, 'sandbox/main.ts'),
      join(root, 'sandbox/launch.ts'),
      join(root, 'sandbox/sendgrid-signing.ts'),
    ],
    outdir: join(root, '.build/sandbox'),
  });
}

async function buildService() {
  if (!args.has('--no-typecheck')) {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(root, 'tsconfig.json')],
      { stdio: 'inherit' },
    );
  }
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  const functionsDir = join(root, 'src/functions');
  const entries = filesUnder(functionsDir, (f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  await build({
    ...common,
    entryPoints: entries.map((f) => ({ in: f, out: relative(functionsDir, f).replace(/\.ts$/, '') })),
    outdir: join(root, 'dist/functions'),
  });
  // Deployed functions cannot require files beside them: fail the build if a bundle would.
  const relativeRequires = filesUnder(join(root, 'dist/functions'), (f) => f.endsWith('.js')).filter((f) =>
    /require\(["']\.{1,2}\//.test(readFileSync(f, 'utf8')),
  );
  if (relativeRequires.length)
    throw new Error(`built functions require relative paths: ${relativeRequires.join(', ')}`);
  // Assets deploy as-is and are public by default: never ship sources or maps.
  cpSync(join(root, 'src/assets'), join(root, 'dist/assets'), {
    recursive: true,
    filter: (src) => !/\.(ts|map)$/.test(src),
  });
  // the insights page's script, with its chart library, bundled into one asset (and its CSS)
  await build({
    ...common,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    packages: undefined,
    minify: true,
    entryPoints: { insights: join(root, 'src/pages/insights.ts') },
    outdir: join(root, 'dist/assets'),
  });
  console.log(`built ${entries.length} functions into dist/functions`);
}

try {
  if (!args.has('--sandbox-only')) await buildService();
  await buildSandbox();
} catch (err) {
  console.error(err.message ?? err);
  process.exit(1);
}
