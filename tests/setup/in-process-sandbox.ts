/**
 * For suites that test one store against Sync without the functions: a sandbox in the test's own
 * process (its state inspectable directly), and the functions' configuration pointed at it.
 */
import { type Config, loadConfig } from '../../src/lib/config';
import { sandboxFunctionEnv } from '../../sandbox/launch';
import { type Sandbox, startSandbox } from '../../sandbox/server';
import { settingsFromEnv } from '../../sandbox/settings';

export function inProcessSandbox(): { sb: Sandbox; config: Config } {
  const local = {} as { sb: Sandbox; config: Config };
  beforeAll(async () => {
    local.sb = await startSandbox({ ...settingsFromEnv({}), port: 0 });
    local.config = loadConfig(sandboxFunctionEnv(local.sb.url));
  });
  afterAll(() => local.sb.close());
  return local;
}
