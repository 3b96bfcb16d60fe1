// `npm run setup` / `npm run doctor`: bundles the go-live CLI (src/golive/cli.ts) and runs it.
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}.build/golive/cli.cjs`;
await build({
  entryPoints: [`${root}src/golive/cli.ts`],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // jsonc-parser's UMD build requires its parts at run time; its ESM build bundles
  mainFields: ['module', 'main'],
  outfile: out,
  logLevel: 'error',
});
createRequire(import.meta.url)(out);
