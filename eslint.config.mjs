// ESLint flat config (eslint 10, typescript-eslint 8).
//
// - TypeScript: typescript-eslint's `recommended`, plus the type-aware `no-floating-promises` (an un-awaited
//   promise in a workflow or activity is a silent bug), using the project service over tsconfig.json.
// - Workflow code (src/workflows/**, src/workflow.ts) runs in Temporal's deterministic V8 sandbox: it may not
//   import Node built-ins, and may import activities, SDK clients and native modules only as types
//   (`import type`, for `proxyActivities<typeof activities>()`).
// - No import cycles among the library's sources (eslint-plugin-import-x's `no-cycle`, which skips `import type`;
//   test/unit/layers.test.ts checks type imports too, and that each layer imports only the layers below it).
import { builtinModules } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const rootDir = dirname(fileURLToPath(import.meta.url));

const unusedVarsOptions = {
  args: 'after-used',
  argsIgnorePattern: '^_',
  varsIgnorePattern: '^_',
  caughtErrorsIgnorePattern: '^_',
  destructuredArrayIgnorePattern: '^_',
  ignoreRestSiblings: true,
};

// Node's globals for plain .js/.cjs/.mjs files (no `globals` package needed): whatever this Node defines on
// globalThis, plus the CommonJS module wrapper's names.
const nodeGlobals = Object.fromEntries(
  [...Object.getOwnPropertyNames(globalThis), 'require', 'module', 'exports', '__dirname', '__filename'].map((name) => [
    name,
    'readonly',
  ])
);
nodeGlobals.module = 'writable';
nodeGlobals.exports = 'writable';

// Every built-in in both spellings: 'fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'node:test', ...
const nodeBuiltins = [
  ...new Set(
    builtinModules.flatMap((name) => {
      const bare = name.replace(/^node:/, '');
      return [bare, `node:${bare}`];
    })
  ),
].sort();

const WORKFLOW_SANDBOX =
  'Workflow code runs in the Temporal workflow sandbox, which must stay deterministic and has no Node APIs.';

const workflowRestrictedImports = {
  paths: [
    ...nodeBuiltins.map((name) => ({
      name,
      message: `${WORKFLOW_SANDBOX} Node built-in '${name}' belongs in an activity.`,
    })),
    ...['better-sqlite3', 'apache-arrow', 'openai', '@anthropic-ai/sdk'].map((name) => ({
      name,
      message: `${WORKFLOW_SANDBOX} '${name}' may only be used from activities (\`import type\` is fine).`,
      allowTypeImports: true,
    })),
  ],
  patterns: [
    {
      group: ['**/activities', '**/activities/**'],
      message: `${WORKFLOW_SANDBOX} Import activities with \`import type\` and call them through proxyActivities().`,
      allowTypeImports: true,
    },
    {
      group: ['better-sqlite3/**', 'apache-arrow/**', 'openai/**', '@anthropic-ai/sdk/**'],
      message: `${WORKFLOW_SANDBOX} This package may only be used from activities (\`import type\` is fine).`,
      allowTypeImports: true,
    },
  ],
};

export default defineConfig(
  {
    ignores: [
      '**/node_modules/**',
      '.tools/**',
      'lib/**',
      'dist/**',
      // typedoc's output (`npm run docs`), git-ignored.
      'docs/api/**',
      'bench/results/**',
      'test/histories/**',
      // A user's project, built and run by test/integration/package.test.ts against the installed tarball.
      'test/fixtures/consumer/**',
      'coverage/**',
      '**/.venv*/**',
    ],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'warn' },
  },

  // Plain JavaScript (config files, bin/ shims): no type information.
  {
    files: ['**/*.{js,cjs,mjs}'],
    ...js.configs.recommended,
    languageOptions: {
      ...js.configs.recommended.languageOptions,
      ecmaVersion: 'latest',
      globals: nodeGlobals,
    },
    rules: {
      ...js.configs.recommended.rules,
      'no-unused-vars': ['warn', unusedVarsOptions],
    },
  },
  {
    files: ['**/*.cjs', 'bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
  },

  // TypeScript.
  ...tseslint.configs.recommended.map((config) => ({
    ...config,
    files: config.files ?? ['**/*.{ts,mts,cts}'],
  })),
  {
    files: ['**/*.{ts,mts,cts}'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: rootDir,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'skip', 'todo', 'only'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['warn', unusedVarsOptions],
    },
  },

  // Import cycles: the library's modules import one way (see test/unit/layers.test.ts for the layers).
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })],
    },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },

  // Temporal workflow code.
  {
    files: ['src/workflows/**/*.ts', 'src/workflow.ts', 'examples/**/workflows.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', workflowRestrictedImports],
    },
  }
);
