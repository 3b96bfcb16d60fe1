// Bundles one of the project's command-line tools (src/<name>/cli.ts, with the service's own
// modules) into .build/<name>/cli.cjs and runs it: `npm run campaign`, `npm run setup|doctor`.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function runCli(name) {
  const out = `${root}.build/${name}/cli.cjs`;
  await build({
    entryPoints: [`${root}src/${name}/cli.ts`],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // some packages (jsonc-parser) require their parts at run time in their UMD build; ESM bundles
    mainFields: ['module', 'main'],
    outfile: out,
    logLevel: 'error',
  });
  createRequire(import.meta.url)(out);
}
