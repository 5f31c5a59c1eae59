import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/core/errors.js';
import { LocalStore } from '../../src/store/local-store.js';
import { type FaultKind, FaultyStore } from '../../src/testing/faulty-store.js';
import { storeConformance } from './conformance.js';

storeConformance('FaultyStore (no faults) over LocalStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-faulty-'));
  const inner = await LocalStore.open(dir);
  const store = new FaultyStore(inner, { seed: 7 });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

function expectTransient(e: unknown, kind: FaultKind): void {
  expect(e).toBeInstanceOf(StoreError);
  expect((e as StoreError).transient).toBe(true);
  expect((e as StoreError).context.fault).toBe(kind);
}

describe('FaultyStore', () => {
  let dir: string;
  let inner: LocalStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-faulty-'));
    inner = await LocalStore.open(dir);
  });
  afterEach(async () => {
    await inner.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('names itself after the store it wraps and passes localPath/scratchDir through', () => {
    const f = new FaultyStore(inner);
    expect(f.kind).toBe('faulty(local)');
    expect(f.url).toBe(inner.url);
    expect(f.localPath?.('a/b')).toBe(inner.localPath('a/b'));
    expect(f.scratchDir?.()).toBe(inner.scratchDir());
  });

  it('error: every call fails transiently before reaching the backend', async () => {
    const f = new FaultyStore(inner, { probabilities: { error: 1 } });
    expectTransient(await f.put('k', 'v').catch((e: unknown) => e), 'error');
    expectTransient(await f.get('k').catch((e: unknown) => e), 'error');
    expectTransient(await f.list('').catch((e: unknown) => e), 'error');
    expect(await inner.head('k')).toBeUndefined();
    expect(f.stats().error).toBe(3);
  });

  it('timeout: fails after the delay; the backend may or may not have done the work', async () => {
    const f = new FaultyStore(inner, { seed: 3, probabilities: { timeout: 1 }, timeoutMs: 30 });
    let reached = 0;
    for (let i = 0; i < 12; i++) {
      const t0 = performance.now();
      expectTransient(await f.put(`t/${i}`, 'v').catch((e: unknown) => e), 'timeout');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
      if (await inner.head(`t/${i}`)) reached++;
    }
    expect(reached).toBeGreaterThan(0);
    expect(reached).toBeLessThan(12);
    expect(f.stats().timeout).toBe(12);
  });

  it('slow: delays, then succeeds', async () => {
    const f = new FaultyStore(inner, { probabilities: { slow: 1 }, slowMs: 40 });
    const t0 = performance.now();
    await f.put('s', 'v');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
    expect(text(await inner.get('s'))).toBe('v');
    expect(f.stats().slow).toBe(1);
  });

  it('partialPut: puts fail and the backend never sees a partial object; reads are unaffected', async () => {
    await inner.put('existing', 'old');
    const f = new FaultyStore(inner, { probabilities: { partialPut: 1 } });
    expectTransient(await f.put('existing', 'new').catch((e: unknown) => e), 'partialPut');
    expect(text(await f.get('existing'))).toBe('old');
    const src = join(dir, 'src.bin');
    await writeFile(src, 'file body');
    expectTransient(await f.putFile('pf', src, { consume: true }).catch((e: unknown) => e), 'partialPut');
    expect(existsSync(src)).toBe(true);
    expect(await inner.head('pf')).toBeUndefined();
    expect(f.stats().partialPut).toBe(2);
  });

  it('lostResponse: a conditional put succeeds on the backend but the caller gets an error', async () => {
    const f = new FaultyStore(inner, { probabilities: { lostResponse: 1 } });
    expectTransient(await f.put('ptr', 'v1', { ifNoneMatch: '*' }).catch((e: unknown) => e), 'lostResponse');
    expect(text(await inner.get('ptr'))).toBe('v1');
    // unconditional puts are not affected
    await f.put('plain', 'x');
    expect(f.stats().lostResponse).toBe(1);
  });

  it('listMiss: hides a recently written key, but not old ones', async () => {
    const f = new FaultyStore(inner, { probabilities: { listMiss: 1 }, listMissWindowMs: 60_000 });
    await inner.put('l/old', 'x');
    for (let i = 0; i < 5; i++) await f.put(`l/${i}`, 'x');
    const listed = (await f.list('l/')).map((o) => o.key);
    expect(listed).toHaveLength(5);
    expect(listed).toContain('l/old');
    expect(f.stats().listMiss).toBe(1);
    const g = new FaultyStore(inner, { probabilities: { listMiss: 1 }, listMissWindowMs: 0 });
    await g.put('l/5', 'x');
    await new Promise((r) => setTimeout(r, 5));
    expect(await g.list('l/')).toHaveLength(7);
    expect(g.stats().listMiss).toBe(0);
  });

  it('keyPattern limits faults to matching keys; enable(false) turns them off', async () => {
    const f = new FaultyStore(inner, { probabilities: { error: 1 }, keyPattern: /^pointer/ });
    await f.put('data/1', 'ok');
    await expect(f.put('pointer/c', 'x')).rejects.toBeInstanceOf(StoreError);
    f.enable(false);
    expect(f.enabled).toBe(false);
    await f.put('pointer/c', 'x');
    f.enable(true);
    await expect(f.get('pointer/c')).rejects.toBeInstanceOf(StoreError);
    expect(f.stats().error).toBe(2);
    f.resetStats();
    expect(f.stats().error).toBe(0);
  });

  it('is deterministic given the seed', async () => {
    const pattern = async (seed: number): Promise<string> => {
      const f = new FaultyStore(inner, { seed, probabilities: { error: 0.3, partialPut: 0.2 } });
      let s = '';
      for (let i = 0; i < 64; i++) {
        try {
          await f.put(`det/${seed}/${i}`, 'x');
          s += '.';
        } catch (e) {
          s += (e as StoreError).context.fault === 'error' ? 'E' : 'P';
        }
      }
      return s;
    };
    const a = await pattern(11);
    expect(await pattern(11)).toBe(a);
    expect(await pattern(12)).not.toBe(a);
    expect(a).toMatch(/E/);
    expect(a).toMatch(/P/);
    expect(a).toMatch(/\./);
  });

  it('setProbabilities changes the mix at run time', async () => {
    const f = new FaultyStore(inner);
    await f.put('a', '1');
    f.setProbabilities({ error: 1 });
    await expect(f.put('a', '2')).rejects.toBeInstanceOf(StoreError);
  });
});
