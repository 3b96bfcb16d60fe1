/**
 * `npm run setup` wires a live account for the deployed service; `npm run doctor` checks that
 * wiring and changes nothing. Both read .env and the service's name in .twilioserverlessrc, and
 * share one plan (wiring.ts).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { parse as parseJsonc } from 'jsonc-parser';
import { whatsappTemplateVariable } from '../lib/config';
import { usedTemplates } from './resources/whatsapp';
import { deployEnv, deployedKeys, maskSecret, readEnvFile, writeEnvFile, writeSecretFile } from './env-file';
import { vendorError, vendorsFrom } from './vendors';
import { type Item, type Plan, planWiring } from './wiring';

const root = process.cwd();
const MARK: Record<Item['status'], string> = { ok: '✓', create: '+', update: '~', problem: '✗', manual: '?' };

interface Common {
  envFile: string;
  environment: string;
}

function serviceName(): string {
  const rc = parseJsonc(readFileSync(join(root, '.twilioserverlessrc'), 'utf8')) as { serviceName?: string };
  if (rc?.serviceName) return rc.serviceName;
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string }).name;
}

function requireCredentials(env: Record<string, string>): void {
  const missing = ['ACCOUNT_SID', 'AUTH_TOKEN', 'SENDGRID_API_KEY'].filter((k) => !env[k]);
  if (missing.length) {
    console.error(
      `✗ .env: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set: fill them in (see .env.example)`,
    );
    process.exit(1);
  }
}

async function plan(
  opts: Common & { moveNumber?: boolean; enableTracking?: boolean; studio?: boolean },
  checkHealth: boolean,
) {
  const env = readEnvFile(opts.envFile);
  requireCredentials(env);
  const name = serviceName();
  console.log(
    `Account ${env.ACCOUNT_SID}, service ${name} (${opts.environment || 'production'}), from ${opts.envFile}`,
  );
  try {
    const vendors = await vendorsFrom(env);
    const result = await planWiring(vendors, env, {
      serviceName: name,
      environment: opts.environment,
      moveNumber: Boolean(opts.moveNumber),
      enableTracking: Boolean(opts.enableTracking),
      studioFlow: opts.studio ? readFileSync(join(root, 'studio/notify.flow.json'), 'utf8') : undefined,
      deployedKeys: serviceKeys(env),
      checkHealth,
    });
    return { env, result };
  } catch (err) {
    const e = vendorError('Twilio', err);
    const hint =
      e.status === 401
        ? `check the ${e.vendor === 'SendGrid' ? 'SENDGRID_API_KEY' : e.vendor === 'Segment' ? 'SEGMENT_PUBLIC_API_TOKEN' : 'ACCOUNT_SID and AUTH_TOKEN'} in ${opts.envFile}`
        : e.status === 403
          ? 'the key lacks a permission this needs (SendGrid: full access to Mail Settings and Tracking)'
          : 'retry; if it persists, check the vendor status page';
    console.error(`✗ reading the account: ${e.describe()} → ${hint}`);
    process.exit(1);
  }
}

const line = (i: Item) => `  ${MARK[i.status]} ${i.resource}: ${i.detail}`;

async function setup(
  opts: Common & { dryRun?: boolean; moveNumber?: boolean; enableTracking?: boolean; studio?: boolean },
) {
  const { result } = await plan(opts, false);
  const { items, envUpdates }: Plan = result;
  const changes = items.filter((i) => i.status === 'create' || i.status === 'update');
  const problems = items.filter((i) => i.status === 'problem');
  for (const i of items) console.log(line(i));
  for (const p of problems) console.log(`    → ${p.fix}`);
  if (opts.dryRun) {
    console.log(`\nDry run: ${changes.length} change${changes.length === 1 ? '' : 's'} planned, nothing changed.`);
    process.exit(problems.length ? 1 : 0);
  }
  if (changes.length === 0 && Object.keys(envUpdates).length === 0) {
    console.log(
      problems.length
        ? '\nNothing setup can change; the problems above need you.'
        : '\nNothing to change: everything is wired.',
    );
    process.exit(problems.length ? 1 : 0);
  }
  let failed = false;
  for (const change of changes) {
    if (!change.apply) continue;
    try {
      await change.apply();
      console.log(`  done: ${change.resource}`);
    } catch (err) {
      const e = vendorError('Twilio', err);
      console.error(`✗ ${change.resource}: ${e.describe()} → ${hintFor(e.code)}`);
      failed = true;
      break;
    }
  }
  // what was generated or created is kept even after a failure: the next run starts from it
  if (Object.keys(envUpdates).length) {
    writeEnvFile(opts.envFile, envUpdates);
    const shown = Object.entries(envUpdates).map(([k, v]) => `${k}=${/SID$|USERNAME$/.test(k) ? v : maskSecret(v)}`);
    console.log(`  .env: wrote ${shown.join(', ')}`);
  }
  console.log(
    failed
      ? '\nStopped at the failure above; what was done stays done. Run again once it is fixed.'
      : `\nDone: ${changes.length} change${changes.length === 1 ? '' : 's'}. Check with npm run doctor.`,
  );
  process.exit(failed || problems.length ? 1 : 0);
}

function hintFor(code: number | string | undefined): string {
  switch (code) {
    case 21712:
      return 'the number belongs to another Messaging Service: run again with --move-number to move it';
    case 20003:
      return 'check ACCOUNT_SID and AUTH_TOKEN in .env';
    case 20429:
      return 'Twilio is throttling the account: run again in a minute';
    case 20001:
      return 'a parameter was refused: the message above names it';
    default:
      return 'fix what the message says and run again (setup only changes what still differs)';
  }
}

async function doctor(opts: Common) {
  const { env, result } = await plan(opts, true);
  let bad = 0;
  for (const i of result.items) {
    const wrong = i.status === 'create' || i.status === 'update' || i.status === 'problem';
    if (wrong) bad++;
    const fix = i.fix ?? 'run npm run setup';
    console.log(wrong ? `  ✗ ${i.resource}: ${problemText(i)}\n    → ${fix}` : line(i));
  }
  // what setup generates because it is absent (a weak key, or the webhook's signing key, is an item above)
  const generated = Object.keys(result.envUpdates).filter(
    (k) => !/_SID$/.test(k) && !/_PUBLIC_KEY$/.test(k) && !env[k],
  );
  if (generated.length) {
    bad++;
    console.log(`  ✗ .env: ${generated.join(', ')} not set\n    → run npm run setup (it generates them)`);
  }
  console.log(bad ? `\n${bad} problem${bad === 1 ? '' : 's'} found.` : '\nAll is well.');
  process.exit(bad ? 1 : 0);
}

/** a planned change, said as the problem it fixes */
function problemText(i: Item): string {
  if (i.status === 'create') return `missing (setup would create: ${i.detail})`;
  return i.detail;
}

/**
 * The variables a deployed service reads: .env.example's, and a WHATSAPP_TEMPLATE_<NAME> for each
 * template the project sends (WHATSAPP_TEMPLATES), which setup writes by name.
 */
function serviceKeys(env: Record<string, string | undefined>): string[] {
  const templates = usedTemplates(env.WHATSAPP_TEMPLATES ?? '').map((t) => whatsappTemplateVariable(t.name));
  return [...deployedKeys(join(root, '.env.example')), ...templates];
}

/**
 * `npm run deploy`'s environment: .build/deploy.env with only what a deployed service reads (one
 * list with setup's: .env.example), so that twilio-run uploads nothing else of .env.
 */
function deployEnvFile(opts: { envFile: string; out: string }) {
  const env = readEnvFile(opts.envFile);
  requireCredentials(env);
  const { text, left } = deployEnv(env, serviceKeys(env));
  mkdirSync(dirname(join(root, opts.out)), { recursive: true });
  writeSecretFile(join(root, opts.out), text);
  console.log(
    `Deploying ${text.trim().split('\n').length - 2} variables from ${opts.envFile}${left.length ? `; not uploaded (not read by the service): ${left.join(', ')}` : ''}`,
  );
}

const program = new Command().name('golive');
program
  .command('deploy-env')
  .description('write the environment npm run deploy uploads: only the variables the service reads')
  .option('--env-file <path>', 'the .env to read', '.env')
  .option('--out <path>', 'where to write it', '.build/deploy.env')
  .action(deployEnvFile);
program
  .command('setup')
  .description('wire a live account for the deployed service (idempotent)')
  .option('--dry-run', 'print the plan and change nothing')
  .option('--move-number', 'take the number from another Messaging Service that holds it')
  .option('--enable-tracking', "turn on SendGrid's open and click tracking (account-wide)")
  .option('--studio', 'create or update the Studio flow (studio/notify.flow.json)')
  .option('--env-file <path>', 'the .env to read and update', '.env')
  .option('--environment <suffix>', 'the Serverless environment\'s domain suffix ("" for production)', 'dev')
  .action(setup);
program
  .command('doctor')
  .description("check a live account's wiring without changing it; exit code 1 when anything is wrong")
  .option('--env-file <path>', 'the .env to read', '.env')
  .option('--environment <suffix>', 'the Serverless environment\'s domain suffix ("" for production)', 'dev')
  .action(doctor);
program.parseAsync().catch((err) => {
  console.error(`✗ ${(err as Error).message}`);
  process.exit(1);
});
