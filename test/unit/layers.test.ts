/**
 * The library's layers, lowest first, and the checks that keep imports pointing down: a module may import its own
 * layer and the layers below, never one above, and no chain of imports (type imports included) leads back to where
 * it started. A unit is a top-level file of src/ or a folder of it. ESLint's `import-x/no-cycle` reports value cycles
 * while editing; this also sees the type-only ones.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const SRC = resolve(__dirname, '../../src');

/** The layers, lowest first. */
const LAYERS: { name: string; units: string[] }[] = [
  // Values and names only: everything may import them, workflow code included.
  { name: 'foundation', units: ['defaults', 'errors', 'activity-names'] },
  // The shared types: payloads that cross Temporal, requests and their errors, messages, schemas, limits, usage.
  { name: 'types', units: ['types/'] },
  // What a curation is: the curator, its schema, payloads, prices, the registry, the search attributes.
  { name: 'domain', units: ['curator', 'schema', 'zod3', 'cost', 'registry', 'search-attributes'] },
  // A fake provider server for tests and the local stack: it knows nothing of the engine.
  { name: 'simulator', units: ['simulator/'] },
  { name: 'storage', units: ['storage/'] },
  { name: 'limits', units: ['limits/'] },
  { name: 'providers', units: ['providers/'] },
  { name: 'requests', units: ['requests/'] },
  { name: 'activities', units: ['activities/'] },
  { name: 'workflows', units: ['workflows/'] },
  // Connections, the dev server, the runtime's logger, the process's heap budget: Node-side, so never imported by
  // workflow code.
  { name: 'temporal', units: ['temporal/', 'heap-budget'] },
  { name: 'worker and client', units: ['worker', 'client', 'plugin'] },
  { name: 'local stack', units: ['embedded'] },
  { name: 'entry points and CLI', units: ['index', 'workflow', 'cli/'] },
];

type Edges = Map<string, Set<string>>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import of every file under src/ (type imports, re-exports and `require` included), by file. */
function importGraph(root: string): Edges {
  const edges: Edges = new Map();
  for (const file of sourceFiles(root)) {
    const from = relative(root, file);
    const targets = new Set<string>();
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const base = resolve(dirname(file), fileName);
      const target = [`${base}.ts`, join(base, 'index.ts'), base].find((p) => p.endsWith('.ts') && existsSync(p));
      if (target) targets.add(relative(root, target));
    }
    edges.set(from, targets);
  }
  return edges;
}

/** The unit of a file: its top-level folder (`storage/`), or the file's name without `.ts`. */
function unitOf(file: string): string {
  const slash = file.indexOf('/');
  return slash >= 0 ? file.slice(0, slash + 1) : file.replace(/\.ts$/, '');
}

/** Files in no layer, and imports of a higher layer, as `from -> to`. */
function layerViolations(edges: Edges, layers: typeof LAYERS): { unplaced: string[]; upward: string[] } {
  const rank = new Map(layers.flatMap((layer, i) => layer.units.map((unit) => [unit, i] as const)));
  const unplaced = [...edges.keys()].filter((file) => !rank.has(unitOf(file)));
  const upward: string[] = [];
  for (const [from, targets] of edges) {
    for (const to of targets) {
      if ((rank.get(unitOf(to)) ?? -1) > (rank.get(unitOf(from)) ?? Infinity)) upward.push(`${from} -> ${to}`);
    }
  }
  return { unplaced, upward: upward.sort() };
}

/** The files that import each other in a circle (each strongly connected component of the graph), as `a <-> b`. */
function importCycles(edges: Edges): string[] {
  // Tarjan's algorithm.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) components.push(component);
    }
  };
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((component) => component.sort().join(' <-> ')).sort();
}

describe('layers', () => {
  const edges = importGraph(SRC);
  const { unplaced, upward } = layerViolations(edges, LAYERS);

  test('every source file is in a layer', () => {
    assert.deepEqual(unplaced, [], 'add these files (or their folder) to a layer in LAYERS');
  });

  test('no module imports a layer above its own', () => {
    assert.deepEqual(
      upward,
      [],
      `imports of a higher layer (layers, lowest first: ${LAYERS.map((l) => l.name).join(' < ')})`
    );
  });

  test('no import cycles, type imports included', () => {
    assert.deepEqual(importCycles(edges), [], 'import cycles');
  });

  test('the checks catch what they are for', () => {
    const graph: Edges = new Map([
      ['errors.ts', new Set<string>()],
      ['storage/a.ts', new Set(['providers/b.ts', 'errors.ts'])],
      ['providers/b.ts', new Set(['storage/a.ts'])],
      ['stray.ts', new Set<string>()],
    ]);
    assert.deepEqual(layerViolations(graph, LAYERS), {
      unplaced: ['stray.ts'],
      upward: ['storage/a.ts -> providers/b.ts'],
    });
    assert.deepEqual(importCycles(graph), ['providers/b.ts <-> storage/a.ts']);
  });
});
