/**
 * The runner conformance suite on the inline executor: steps in this process, on a store the executor opens
 * from the spec (openExecutor) and closes with itself. Failpoints reach the steps through this process's
 * own failpoint table.
 */
import { readdir, readlink, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { reloadFailpoints } from '../../src/core/failpoints.js';
import { openExecutor } from '../../src/runners/open.js';
import { type RunnerHarness, runnerConformance } from './conformance.js';

/** Open file descriptors of this process on files under `dir`. */
async function openFilesUnder(dir: string): Promise<number> {
  const root = `${await realpath(dir)}/`;
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target.startsWith(root)) n++;
  }
  return n;
}

const inline: RunnerHarness = {
  name: 'inline',
  async open({ storeDir, attempts, env }) {
    reloadFailpoints(env?.STRATA_FAILPOINTS ?? '');
    const before = await openFilesUnder(storeDir);
    const executor = await openExecutor('inline', {
      storeSpec: storeDir,
      retry: { attempts, baseMs: 20, maxMs: 100 },
    });
    return {
      executor,
      held: async () => (await openFilesUnder(storeDir)) - before,
      stop: async () => {
        try {
          await executor.close();
        } finally {
          reloadFailpoints('');
        }
      },
    };
  },
};

runnerConformance(inline);
