// `npm run specs:trim`: the trimmed copy of the vendors' OpenAPI documents the sandbox is checked
// against (sandbox/contract.ts), made from ../shared/specs (or --from DIR).
//
// It keeps, of each document, the operations the sandbox serves (its router's routes, so a new
// route brings its operation at the next run) and the components they reference, without
// descriptions and examples, and carries the document's source and license line (the specs
// folder's README says a project may keep such a copy, not the whole documents).
//   node scripts/trim-specs.mjs [--from ../shared/specs]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const opts = new Command()
  .option('--from <dir>', "the vendors' documents", join(root, '../shared/specs'))
  .parse()
  .opts();

// the routes, from the sandbox's own router
const out = join(root, '.build/specs-trim');
await build({
  entryPoints: [join(root, 'sandbox/server.ts'), join(root, 'sandbox/contract.ts')],
  outdir: out,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  packages: 'external',
  logLevel: 'warning',
});
const require = createRequire(import.meta.url);
const { servedRoutes } = require(join(out, 'server.js'));
const { SPEC_FILES } = require(join(out, 'contract.js'));
const routes = servedRoutes().map(({ method, path }) => ({
  method: method.toLowerCase(),
  template: path.replace(/:\w+/g, '{}'),
}));

// the source and license of each document (../shared/specs/README.md's table)
const readme = readFileSync(join(opts.from, 'README.md'), 'utf8');
const sourceOf = (file) => {
  const row = readme.split('\n').find((line) => line.startsWith(`| ${file} |`));
  const [, , api, source, license] = row?.split('|').map((c) => c.trim()) ?? [];
  return { api, source, license };
};

const DROP = new Set(['description', 'summary', 'examples', 'example', 'x-twilio', 'externalDocs', 'headers', 'tags']);
/** the schema without prose and examples (property names stay, even one called `description`) */
function stripped(node, inProperties = false) {
  if (Array.isArray(node)) return node.map((x) => stripped(x));
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => inProperties || !DROP.has(k))
      .map(([k, v]) => [k, stripped(v, k === 'properties' && !inProperties)]),
  );
}
/** every `#/components/<kind>/<name>` reachable from `node` */
function refsOf(doc, node, seen = new Set()) {
  const text = JSON.stringify(node);
  for (const [, ref] of text.matchAll(/"#\/components\/([^"]+)"/g)) {
    if (seen.has(ref)) continue;
    seen.add(ref);
    const [kind, name] = ref.split('/');
    refsOf(doc, doc.components?.[kind]?.[name], seen);
  }
  return seen;
}

mkdirSync(join(root, 'sandbox/specs'), { recursive: true });
for (const { file, prefix } of SPEC_FILES) {
  const doc = JSON.parse(readFileSync(join(opts.from, file), 'utf8'));
  const paths = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    const template = (prefix + path).replace(/\{[^}]+\}/g, '{}');
    const methods = routes.filter((r) => r.template === template).map((r) => r.method);
    if (methods.length === 0) continue;
    paths[path] = Object.fromEntries(Object.entries(item).filter(([k]) => methods.includes(k) || k === 'parameters'));
  }
  const components = {};
  for (const ref of refsOf(doc, paths)) {
    const [kind, name] = ref.split('/');
    components[kind] ??= {};
    components[kind][name] = doc.components[kind][name];
  }
  const trimmed = stripped({
    openapi: doc.openapi,
    info: { title: doc.info?.title, version: doc.info?.version },
    servers: doc.servers,
    paths,
    components,
  });
  // the documents' one known quirk that is the document's error, not the API's (its README):
  // top-level custom_args is an object of strings in the real API and @sendgrid/mail
  const mail = trimmed.components?.requestBodies?.PostMailSend?.content?.['application/json']?.schema;
  if (file === 'tsg_mail_v3.json' && mail?.properties?.custom_args?.type === 'string')
    mail.properties.custom_args = { type: 'object', additionalProperties: { type: 'string' } };
  const { api, source, license } = sourceOf(file);
  trimmed.info['x-trimmed'] =
    `${api}: the operations the sandbox serves, trimmed by scripts/trim-specs.mjs from ${source}. License: ${license}.`;
  writeFileSync(join(root, 'sandbox/specs', file), `${JSON.stringify(trimmed)}\n`);
  console.log(
    `${file}: ${Object.keys(paths).length} paths, ${Object.values(components).reduce((a, c) => a + Object.keys(c).length, 0)} components`,
  );
}
