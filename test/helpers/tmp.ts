import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../src/store/local-store.js';

export async function tempDir(
  label = 'strata-test',
): Promise<{ dir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  return { dir, [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) };
}

/** A LocalStore in a fresh temp directory, removed on dispose. */
export async function tempStore(label = 'strata-store'): Promise<{
  store: LocalStore;
  dir: string;
  [Symbol.asyncDispose](): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  const store = await LocalStore.open(dir);
  return {
    store,
    dir,
    async [Symbol.asyncDispose]() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
