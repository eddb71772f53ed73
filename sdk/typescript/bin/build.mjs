#!/usr/bin/env node
// warden-ts-build: a TypeScript (or JavaScript) plugin to a Warden component.
//
//   warden-ts-build app.ts -o plugin.wasm
//
// 1. type-checks the entry with the TypeScript compiler (errors name file:line:column),
// 2. bundles it and the SDK into one ES module with esbuild (`@warden/plugin-sdk` resolves to
//    this SDK; the host interfaces `warden:*` and `wasi:*` stay imports),
// 3. componentizes the bundle with componentize-js against wit/world.wit (warden:plugin@0.2.0
//    plus the environment). stdio is disabled (no files, no console: the host keeps no guest
//    output); clocks, random and fetch (over wasi:http, which the host gates by the manifest)
//    stay.
// Exit status 1, with the reason on stderr, for any error; nothing is written then.

import { mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SDK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: warden-ts-build <entry.ts|entry.js> -o <out.wasm> [--no-typecheck]';

class BuildError extends Error {}

function fail(message) {
  throw new BuildError(message);
}

function parseArgs(argv) {
  const opts = { entry: undefined, out: undefined, typecheck: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-o' || a === '--out') opts.out = argv[++i];
    else if (a === '--no-typecheck') opts.typecheck = false;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a.startsWith('-')) fail(`unknown option ${a}\n${USAGE}`);
    else if (opts.entry === undefined) opts.entry = a;
    else fail(`one entry file only (got ${opts.entry} and ${a})\n${USAGE}`);
  }
  if (!opts.entry || !opts.out) fail(USAGE);
  return opts;
}

async function typecheck(entry) {
  const ts = (await import('typescript')).default;
  const options = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    allowJs: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.esnext.disposable.d.ts'],
    baseUrl: SDK,
    paths: { '@warden/plugin-sdk': [path.join(SDK, 'src/index.ts')] },
  };
  const program = ts.createProgram([entry], options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length === 0) return;
  const host = {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => '\n',
  };
  fail(`type errors:\n${ts.formatDiagnostics(diagnostics, host)}`);
}

async function bundle(entry, outfile) {
  const esbuild = await import('esbuild');
  try {
    await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      // A neutral platform reads no package.json entry points by default; npm packages need them.
      mainFields: ['module', 'main'],
      conditions: ['import', 'default'],
      target: 'es2022',
      external: ['warden:*', 'wasi:*'],
      alias: { '@warden/plugin-sdk': path.join(SDK, 'src/index.ts') },
      logLevel: 'silent',
    });
  } catch (e) {
    const errors = (e.errors ?? []).map((m) =>
      m.location ? `${m.location.file}:${m.location.line}:${m.location.column + 1}: ${m.text}` : m.text,
    );
    fail(`cannot bundle ${entry}:\n${errors.join('\n') || e.message}`);
  }
}

async function componentizeBundle(sourcePath) {
  const { componentize } = await import('@bytecodealliance/componentize-js');
  try {
    const { component } = await componentize({
      sourcePath,
      witPath: path.join(SDK, 'wit'),
      worldName: 'plugin-ts',
      disableFeatures: ['stdio'],
    });
    return component;
  } catch (e) {
    fail(`componentize-js failed: ${e?.message ?? e}`);
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const entry = path.resolve(opts.entry);
  const out = path.resolve(opts.out);
  if (opts.typecheck) await typecheck(entry);
  const dir = await mkdtemp(path.join(tmpdir(), 'warden-ts-build-'));
  try {
    const js = path.join(dir, 'plugin.js');
    await bundle(entry, js);
    const component = await componentizeBundle(js);
    const tmp = `${out}.tmp`;
    try {
      await writeFile(tmp, component);
      await rename(tmp, out);
    } catch (e) {
      await rm(tmp, { force: true });
      fail(`cannot write ${out}: ${e?.message ?? e}`);
    }
    process.stdout.write(`${path.relative(process.cwd(), out) || out}: ${component.length} bytes\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (e) {
  process.stderr.write(`warden-ts-build: ${e instanceof BuildError ? e.message : (e?.stack ?? e)}\n`);
  process.exit(1);
}
