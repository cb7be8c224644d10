/** Loads the curators a user's module exports: a default array, a `curators` array, or named curator exports. */
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Curator } from '../curator';

function isCurator(value: unknown): value is Curator {
  const c = value as Partial<Curator> | null;
  return (
    !!c &&
    typeof c === 'object' &&
    typeof c.name === 'string' &&
    typeof c.prompt === 'function' &&
    typeof c.model === 'string'
  );
}

const TYPESCRIPT = new Set(['.ts', '.mts', '.cts', '.tsx']);

/**
 * A TypeScript module needs tsx, which is the user's to install: the library itself runs on plain Node. It is looked
 * up from the module's folder first, then the working directory, then beside this package.
 */
function registerTypeScript(path: string): void {
  // Already registered: `node --import tsx`, or a second module in this process.
  if (require.extensions['.ts']) return;
  let tsx: string;
  try {
    tsx = require.resolve('tsx/cjs', { paths: [dirname(path), process.cwd(), __dirname] });
  } catch {
    throw new Error(
      `${path} is TypeScript, which needs tsx to load: install it (\`npm install --save-dev tsx\`), ` +
        'or compile the module to JavaScript and pass the .js file.'
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(tsx);
}

/**
 * `import()` as Node runs it. Written so because this package compiles to CommonJS, where TypeScript would turn an
 * `import()` into a `require()`, which cannot load an ES module with top-level await (nor any on Node < 20.19).
 */
const importModule = new Function('url', 'return import(url)') as (url: string) => Promise<Record<string, unknown>>;

async function loadModule(path: string): Promise<Record<string, unknown>> {
  if (TYPESCRIPT.has(extname(path))) registerTypeScript(path);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(path) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
  }
  return importModule(pathToFileURL(path).href);
}

export async function loadCurators(modulePath: string): Promise<Curator[]> {
  const path = resolve(modulePath);
  let mod: Record<string, unknown>;
  try {
    mod = await loadModule(path);
  } catch (err) {
    throw new Error(`cannot load curators from ${path}: ${(err as Error).message}`);
  }
  const found = new Map<string, Curator>();
  const add = (value: unknown) => {
    if (isCurator(value)) found.set(value.name, value);
    else if (Array.isArray(value)) value.filter(isCurator).forEach((c) => found.set(c.name, c));
  };
  add(mod.default);
  add(mod.curators);
  Object.values(mod).forEach(add);
  if (found.size === 0) {
    throw new Error(`${path} exports no curator: export defineCurator(...) results, or an array of them`);
  }
  return [...found.values()];
}
