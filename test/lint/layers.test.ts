/**
 * The layer boundary is a lint rule (biome.json, `overrides` of noRestrictedImports; docs/architecture.md,
 * "Layers"). `npm run lint` holds src/ to it; this proves the rule fails where it must and passes where it
 * must not: probe files are linted with the repository's biome.json in a scratch tree shaped like src/.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Probe {
  /** Where the probe sits, as if in the repository. */
  file: string;
  source: string;
  /** A part of the expected message; null: the import is allowed. */
  fails: string | null;
}

const INDEX = 'through its index.ts';
const probes: Probe[] = [
  // deep imports past a layer's index, in every form an import can take
  { file: 'src/query/deep.ts', source: "import { x } from '../engine/record-store.js';", fails: INDEX },
  { file: 'src/query/deep-type.ts', source: "import type { X } from '../engine/rows.js';", fails: INDEX },
  { file: 'src/query/deep-export.ts', source: "export { x } from '../engine/ann-index.js';", fails: INDEX },
  { file: 'src/query/deep-dynamic.ts', source: "await import('../engine/segment-reader.js');", fails: INDEX },
  {
    file: 'src/runners/local/deep.ts',
    source: "import type { X } from '../../store/object-store.js';",
    fails: INDEX,
  },
  {
    file: 'src/cli/commands/deep.ts',
    source: "import { x } from '../../interop/chroma/reader.js';",
    fails: INDEX,
  },
  { file: 'src/cli/deep.ts', source: "import { x } from '../runners/lambda/handlers.js';", fails: INDEX },
  { file: 'src/cli/deep-server.ts', source: "import { x } from '../server/tail.js';", fails: INDEX },
  { file: 'src/entry.ts', source: "export { x } from './store/local-store.js';", fails: INDEX },
  // upward and sideways imports
  {
    file: 'src/engine/up.ts',
    source: "import { x } from '../pipeline/run.js';",
    fails: 'engine imports only core',
  },
  {
    file: 'src/engine/side.ts',
    source: "import { x } from '../store/index.js';",
    fails: 'engine imports only core',
  },
  {
    file: 'src/core/up.ts',
    source: "import { x } from '../engine/index.js';",
    fails: 'core imports no other layer',
  },
  {
    file: 'src/query/up.ts',
    source: "import { x } from '../pipeline/ledger.js';",
    fails: 'query imports only',
  },
  {
    file: 'src/pipeline/up.ts',
    source: "import { x } from '../server/index.js';",
    fails: 'pipeline imports only',
  },
  {
    file: 'src/pipeline/up2.ts',
    source: "import { x } from '../runners/index.js';",
    fails: 'pipeline imports only',
  },
  { file: 'src/runners/up.ts', source: "import { x } from '../cli/main.js';", fails: 'runners import only' },
  {
    file: 'src/interop/chroma/side.ts',
    source: "import { x } from '../../runners/index.js';",
    fails: 'interop',
  },
  {
    file: 'src/server/runner.ts',
    source: "import { x } from '../runners/index.js';",
    fails: 'ExecutorFactory',
  },
  {
    file: 'src/server/up.ts',
    source: "import { x } from '../cli/context.js';",
    fails: 'server imports neither',
  },
  // the proving grounds and the test helpers stay out of the product
  {
    file: 'src/pipeline/lab.ts',
    source: "import { x } from '../../lab/torture/model.js';",
    fails: 'never imports lab',
  },
  {
    file: 'src/server/testing.ts',
    source: "import { x } from '../testing/index.js';",
    fails: 'strata/testing',
  },
  {
    file: 'src/cli/workload.ts',
    source: "import { x } from '../workload/synthetic.js';",
    fails: 'cli/demo.ts',
  },
  {
    file: 'src/entry2.ts',
    source: "export { x } from './workload/synthetic.js';",
    fails: 'synthetic workload',
  },
  {
    file: 'src/workload/up.ts',
    source: "import { x } from '../testing/index.js';",
    fails: 'synthetic workload',
  },
  // allowed
  { file: 'src/query/ok.ts', source: "import { x } from '../engine/index.js';", fails: null },
  {
    file: 'src/pipeline/ok.ts',
    source: "import { x } from '../query/index.js';\nimport { y } from '../core/types.js';",
    fails: null,
  },
  {
    file: 'src/server/ok.ts',
    source: "import { x } from '../pipeline/ledger.js';\nimport { y } from '../store/index.js';",
    fails: null,
  },
  { file: 'src/runners/lambda/ok.ts', source: "import { x } from '../local/pool.js';", fails: null },
  {
    file: 'src/cli/ok.ts',
    source: "import { x } from '../server/index.js';\nimport { y } from '../runners/index.js';",
    fails: null,
  },
  { file: 'src/cli/demo.ts', source: "import { x } from '../workload/synthetic.js';", fails: null },
  { file: 'src/testing/ok.ts', source: "import { x } from '../workload/synthetic.js';", fails: null },
  { file: 'src/engine/ok.ts', source: "import { x } from './record-store.js';", fails: null },
];

let scratch: string;
let found: Map<string, string[]>;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'strata-layers-'));
  copyFileSync(join(root, 'biome.json'), join(scratch, 'biome.json'));
  for (const p of probes) {
    mkdirSync(dirname(join(scratch, p.file)), { recursive: true });
    writeFileSync(join(scratch, p.file), `${p.source}\n`);
  }
  const r = spawnSync(
    join(root, 'node_modules/.bin/biome'),
    ['lint', '--reporter=github', '--max-diagnostics=1000', 'src'],
    { cwd: scratch, encoding: 'utf8' },
  );
  found = new Map();
  for (const line of r.stdout.split('\n')) {
    const m = /^::error title=lint\/style\/noRestrictedImports,file=([^,]+),.*::(.*)$/.exec(line);
    if (!m) continue;
    const file = m[1]!.slice(scratch.length + 1);
    found.set(file, [...(found.get(file) ?? []), m[2]!]);
  }
  // biome ran, and found something: a broken setup must not pass as "nothing restricted"
  expect(r.status, r.stderr).toBe(1);
}, 60_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the layer boundary rule', () => {
  for (const p of probes) {
    it(`${p.fails === null ? 'allows' : 'refuses'} ${p.source.split('\n')[0]} in ${p.file}`, () => {
      const messages = found.get(p.file) ?? [];
      if (p.fails === null) expect(messages).toEqual([]);
      else expect(messages.join('\n')).toContain(p.fails);
    });
  }

  it('covers every folder of src/ with an override of its own', () => {
    const config = JSON.parse(readFileSync(join(root, 'biome.json'), 'utf8')) as {
      overrides: Array<{ includes?: string[] }>;
    };
    const covered = new Set(config.overrides.flatMap((o) => o.includes ?? []));
    const folders = readdirSync(join(root, 'src'), { withFileTypes: true }).filter((d) => d.isDirectory());
    for (const d of folders)
      expect(covered, `src/${d.name}/ has no layer rule`).toContain(`src/${d.name}/**`);
  });
});
