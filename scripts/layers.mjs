// `npm run layers`: src/lib's layers drawn from its imports. The architecture's unit is a top-level
// entry of src/lib (a folder such as store/ or routing/ is one unit, a top-level file is one), as the
// structure review counted them (26 units and 126 imports then). A unit's layer is one above the
// highest it imports. Also drawn at the finer grain of single modules: their cycles, and the longest
// chain of imports. The goal (docs/architecture.md): at most 9 layers of units, and no cycle at either grain.
//   node scripts/layers.mjs [--json] [--chain]
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
const unitOf = (m) => m.split('/')[0];
const units = [...new Set(modules.map(unitOf))];
const unitImports = new Map(units.map((u) => [u, new Set()]));
for (const [m, xs] of importsOf)
  for (const w of xs) if (unitOf(w) !== unitOf(m)) unitImports.get(unitOf(m)).add(unitOf(w));

/** Layers of a graph (a cycle's members share one), its cycles, and the imports within them. */
function layersOf(nodes, edgesOf) {
  // strongly connected components (Tarjan): a cycle is a component of more than one node
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const components = [];
  const connect = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of edgesOf(v)) {
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
  };
  for (const v of nodes) if (!idx.has(v)) connect(v);
  const componentOf = new Map(components.flatMap((c, i) => c.map((v) => [v, i])));
  const layerOfComponent = new Map();
  const layerOf = (ci) => {
    if (layerOfComponent.has(ci)) return layerOfComponent.get(ci);
    let l = 0;
    for (const v of components[ci])
      for (const w of edgesOf(v)) if (componentOf.get(w) !== ci) l = Math.max(l, layerOf(componentOf.get(w)) + 1);
    layerOfComponent.set(ci, l);
    return l;
  };
  const layer = new Map(nodes.map((v) => [v, layerOf(componentOf.get(v))]));
  const withinCycles = nodes.flatMap((v) =>
    [...edgesOf(v)].filter((w) => componentOf.get(w) === componentOf.get(v)).map((w) => `${v} → ${w}`),
  );
  return {
    layer,
    layers: Math.max(...layer.values()) + 1,
    cycles: components.filter((c) => c.length > 1),
    withinCycles,
  };
}

const byUnit = layersOf(units, (u) => unitImports.get(u));
const byModule = layersOf(modules, (m) => importsOf.get(m));
const edges = [...importsOf.values()].reduce((a, xs) => a + xs.length, 0);
const unitEdges = [...unitImports.values()].reduce((a, xs) => a + xs.size, 0);
// the application layer (app/: everything that takes Deps) is imported by the functions only
const intoApp = [...importsOf].flatMap(([m, xs]) =>
  m.startsWith('app/') ? [] : xs.filter((w) => w.startsWith('app/')).map((w) => `${m} → ${w}`),
);
if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({
      units: units.length,
      unitEdges,
      layers: byUnit.layers,
      unitCycles: byUnit.cycles,
      modules: modules.length,
      edges,
      moduleLayers: byModule.layers,
      cycles: byModule.cycles,
      withinCycles: byModule.withinCycles,
      intoApp,
    }),
  );
} else {
  console.log(`src/lib: ${units.length} units, ${unitEdges} imports between them, ${byUnit.layers} layers`);
  for (let l = byUnit.layers - 1; l >= 0; l--)
    console.log(
      `  ${String(l).padStart(2)}  ${units
        .filter((u) => byUnit.layer.get(u) === l)
        .sort()
        .join('  ')}`,
    );
  console.log(
    `modules: ${modules.length}, ${edges} imports, ${byModule.layers} deep, ` +
      `${byModule.cycles.length + byUnit.cycles.length} cycles`,
  );
  for (const c of [...byUnit.cycles, ...byModule.cycles]) console.log(`cycle: ${c.join(' ↔ ')}`);
  for (const e of [...byUnit.withinCycles, ...byModule.withinCycles]) console.log(`  import within a cycle: ${e}`);
  for (const e of intoApp) console.log(`  import of the application layer from below it: ${e}`);
}
if (process.argv.includes('--chain')) {
  // the longest chain of single modules' imports
  const seen = new Map();
  const depth = (m) => {
    if (seen.has(m)) return seen.get(m);
    const best = importsOf
      .get(m)
      .map(depth)
      .sort((a, b) => b.length - a.length)[0];
    const chain = [m, ...(best ?? [])];
    seen.set(m, chain);
    return chain;
  };
  const top = modules.map(depth).sort((a, b) => b.length - a.length)[0];
  console.log(`longest chain of modules (${top.length}): ${top.join(' → ')}`);
}
