// `npm run setup` / `npm run doctor`: bundles the go-live CLI (src/golive/cli.ts) and runs it.
import { runCli } from './run-cli.mjs';

await runCli('golive');
