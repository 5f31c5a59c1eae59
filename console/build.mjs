#!/usr/bin/env node
/**
 * Builds the Strata Console (console/src, Preact + uPlot) into dist/console with esbuild: one
 * content-hashed script and stylesheet under assets/ and an index.html that names them. Runs offline
 * from the npm packages (devDependencies); nothing is fetched at run time. `node console/build.mjs`
 * builds; `--if-stale` builds only when a source is newer than the last build (the test setup uses it).
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
export const OUT_DIR = join(root, 'dist', 'console');
const STAMP = join(OUT_DIR, '.build-stamp');

function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
    else newest = Math.max(newest, st.mtimeMs);
  };
  for (const p of paths) visit(p);
  return newest;
}

const SOURCES = [
  join(here, 'src'),
  join(here, 'index.html'),
  join(here, 'build.mjs'),
  join(root, 'src', 'server', 'console', 'wire.ts'),
  join(root, 'package-lock.json'),
];

/** True when dist/console is missing or older than any of its sources. */
export function consoleIsStale() {
  if (!existsSync(STAMP) || !existsSync(join(OUT_DIR, 'index.html'))) return true;
  return newestMtime(SOURCES) > statSync(STAMP).mtimeMs;
}

/**
 * Builds into a fresh temporary directory and renames it into place, so a server reading dist/console
 * never sees half a build.
 */
export async function buildConsole({ quiet = false } = {}) {
  const { build } = await import('esbuild');
  const tmp = `${OUT_DIR}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const result = await build({
    entryPoints: { app: join(here, 'src', 'main.tsx') },
    outdir: join(tmp, 'assets'),
    entryNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    target: ['es2022'],
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: false,
    legalComments: 'linked',
    metafile: true,
    logLevel: quiet ? 'silent' : 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => relative(tmp, join(root, p)));
  const js = outputs.find((p) => p.endsWith('.js'));
  const css = outputs.find((p) => p.endsWith('.css'));
  if (!js || !css) throw new Error(`console build produced no script or stylesheet: ${outputs.join(', ')}`);
  const html = readFileSync(join(here, 'index.html'), 'utf8')
    .replace('%STYLESHEET%', `./${css}`)
    .replace('%SCRIPT%', `./${js}`);
  writeFileSync(join(tmp, 'index.html'), html);
  const digest = createHash('sha256').update(html).digest('hex').slice(0, 12);
  writeFileSync(join(tmp, '.build-stamp'), `${digest}\n`);
  const old = `${OUT_DIR}.old-${process.pid}`;
  mkdirSync(dirname(OUT_DIR), { recursive: true });
  if (existsSync(OUT_DIR)) renameSync(OUT_DIR, old);
  renameSync(tmp, OUT_DIR);
  rmSync(old, { recursive: true, force: true });
  if (!quiet) process.stderr.write(`console: built ${js}, ${css} into ${relative(root, OUT_DIR)}\n`);
  return { js, css };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const ifStale = process.argv.includes('--if-stale');
  if (!ifStale || consoleIsStale()) await buildConsole();
}
