// `npm run campaign -- send|cancel …`: bundles the campaign CLI
// (src/campaign/cli.ts, with the request parsing /notify itself uses) and runs it.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}.build/campaign/cli.cjs`;
await build({
  entryPoints: [`${root}src/campaign/cli.ts`],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: out,
  logLevel: 'error',
});
createRequire(import.meta.url)(out);
