#!/usr/bin/env node
// Installs what a fresh clone lacks. `--servers` also installs the Debian packages the real-server
// suites need (none of the core suites need any); `--datasets` only the real data sets
// (scripts/servers/datasets.txt) that `npm run bench` reads. Idempotent and quiet when everything is in place.
import { execSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd) => {
  process.stderr.write(`setup: ${cmd}\n`);
  execSync(cmd, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
};

function npmUpToDate() {
  const installed = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return false;
  const lock = join(root, 'package-lock.json');
  if (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs + 1000) {
    // lock changed since install: compare the package sets
    const want = JSON.parse(readFileSync(lock, 'utf8')).packages ?? {};
    const have = JSON.parse(readFileSync(installed, 'utf8')).packages ?? {};
    for (const [k, v] of Object.entries(want)) {
      if (k === '' || v.optional) continue;
      if (!have[k] || have[k].version !== v.version) return false;
    }
  }
  // native addons must actually load
  try {
    execSync(`node -e "require('better-sqlite3'); require('usearch')"`, { cwd: root, stdio: 'ignore' });
  } catch {
    return false;
  }
  return true;
}

if (!npmUpToDate()) {
  run(
    existsSync(join(root, 'package-lock.json'))
      ? 'npm ci --no-audit --no-fund'
      : 'npm install --no-audit --no-fund',
  );
}

// Debian packages for the real-server suites: each suite lists its packages in scripts/servers/<name>.txt
// (one package per line, # comments); its own test setup fails loudly when its server cannot start.
const serversDir = join(root, 'scripts', 'servers');
const debianPackages = existsSync(serversDir)
  ? readdirSync(serversDir)
      .filter((f) => f.endsWith('.txt'))
      .flatMap((f) => readFileSync(join(serversDir, f), 'utf8').split('\n'))
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean)
  : [];
// `--datasets`: only the real data sets the benchmarks and the recall tests read (scripts/servers/datasets.txt)
const datasetPackages = debianPackages.filter((p) =>
  existsSync(join(serversDir, 'datasets.txt'))
    ? readFileSync(join(serversDir, 'datasets.txt'), 'utf8')
        .split('\n')
        .map((l) => l.replace(/#.*/, '').trim())
        .includes(p)
    : false,
);
const wanted = process.argv.includes('--servers')
  ? debianPackages
  : process.argv.includes('--datasets')
    ? datasetPackages
    : [];
if (wanted.length > 0) {
  const missing = wanted.filter((p) => {
    try {
      execSync(`dpkg -s ${p}`, { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    run('apt-get update -qq');
    run(`DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${missing.join(' ')}`);
  }
}
