// `npm run campaign -- send|cancel …`: bundles the campaign CLI
// (src/campaign/cli.ts, with the request parsing /notify itself uses) and runs it.
import { runCli } from './run-cli.mjs';

await runCli('campaign');
