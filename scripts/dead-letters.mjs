// `npm run dead-letters -- list|retry|drop [--parcel NAME]`: bundles src/dead-letters/cli.ts and runs it.
import { runCli } from './run-cli.mjs';

await runCli('dead-letters');
