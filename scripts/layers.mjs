// `npm run layers`: src/lib's modules on layers drawn from their imports (a module's layer is one
// above the highest it imports), the imports that point up a layer (from a lower layer to a higher,
// i.e. within a cycle), and the cycles. The architecture's goal (docs/architecture.md): at most 9
// layers and no cycle.
//   node scripts/layers.mjs [--json]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../src/lib/', import.meta.url));
const files = (dir) =>
  readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
const modules = files(root)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => relative(root, f).replace(/\.ts$/, ''));
const importsOf = new Map(
  modules.map((m) => {
    const text = readFileSync(join(root, `${m}.ts`), 'utf8');
    const out = new Set();
    // type-only imports draw no runtime edge but still tie the modules' meanings: both count
    for (const [, spec] of text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)) {
      const target = relative(root, resolve(dirname(join(root, m)), spec));
      if (modules.includes(target)) out.add(target);
      else if (modules.includes(`${target}/index`)) out.add(`${target}/index`);
    }
    return [m, [...out]];
  }),
);
// strongly connected components (Tarjan): a cycle is a component of more than one module
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const components = [];
function connect(v) {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of importsOf.get(v)) {
    if (!idx.has(w)) {
      connect(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const c = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      c.push(w);
    } while (w !== v);
    components.push(c);
  }
}
for (const m of modules) if (!idx.has(m)) connect(m);
const componentOf = new Map(components.flatMap((c, i) => c.map((m) => [m, i])));
// layers over the components (a cycle's modules share one layer)
const layerOfComponent = new Map();
const layerOf = (ci) => {
  if (layerOfComponent.has(ci)) return layerOfComponent.get(ci);
  let l = 0;
  for (const m of components[ci])
    for (const w of importsOf.get(m)) if (componentOf.get(w) !== ci) l = Math.max(l, layerOf(componentOf.get(w)) + 1);
  layerOfComponent.set(ci, l);
  return l;
};
const layer = new Map(modules.map((m) => [m, layerOf(componentOf.get(m))]));
const cycles = components.filter((c) => c.length > 1);
const edges = [...importsOf.values()].reduce((a, xs) => a + xs.length, 0);
const withinCycles = [...importsOf].flatMap(([m, xs]) =>
  xs.filter((w) => componentOf.get(w) === componentOf.get(m)).map((w) => `${m} → ${w}`),
);
const layers = Math.max(...layer.values()) + 1;
// the application layer (app/: everything that takes Deps) is imported by the functions only
const intoApp = [...importsOf].flatMap(([m, xs]) =>
  m.startsWith('app/') ? [] : xs.filter((w) => w.startsWith('app/')).map((w) => `${m} → ${w}`),
);
if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ modules: modules.length, edges, layers, cycles, withinCycles, intoApp }));
} else {
  console.log(`src/lib: ${modules.length} modules, ${edges} imports, ${layers} layers, ${cycles.length} cycles`);
  for (let l = layers - 1; l >= 0; l--)
    console.log(
      `  ${String(l).padStart(2)}  ${modules
        .filter((m) => layer.get(m) === l)
        .sort()
        .join('  ')}`,
    );
  for (const c of cycles) console.log(`cycle: ${c.join(' ↔ ')}`);
  for (const e of withinCycles) console.log(`  import within a cycle: ${e}`);
  for (const e of intoApp) console.log(`  import of the application layer from below it: ${e}`);
}
if (process.argv.includes('--chain')) {
  // the longest chain of imports: what makes the layers many
  const depth = (m, seen = new Map()) => {
    if (seen.has(m)) return seen.get(m);
    const best = importsOf
      .get(m)
      .map((w) => depth(w, seen))
      .sort((a, b) => b.length - a.length)[0];
    const chain = [m, ...(best ?? [])];
    seen.set(m, chain);
    return chain;
  };
  const top = modules.map((m) => depth(m)).sort((a, b) => b.length - a.length)[0];
  console.log(`longest chain (${top.length}): ${top.join(' → ')}`);
}
