import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ClosedError,
  ErrorCodes,
  IntegrityError,
  PreconditionFailedError,
  StrataError,
  UsageError,
} from '../../src/core/errors.js';
import { LocalStore } from '../../src/store/local-store.js';
import { openStore } from '../../src/store/open.js';
import { storeConformance } from './conformance.js';

const CHILD = fileURLToPath(new URL('./store-child.ts', import.meta.url));
const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

storeConformance('LocalStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-local-'));
  const store = await LocalStore.open(dir);
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

interface Child {
  proc: ChildProcess;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function child(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (res) => {
      proc.on('exit', (code, signal) => res({ code, signal, stderr: err }));
    },
  );
  return { proc, stdout: () => out, exited };
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LocalStore', () => {
  let dir: string;
  let store: LocalStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-local-'));
    store = await LocalStore.open(dir);
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lays objects out under objects/, and localPath names the file', async () => {
    await store.put('a/b/c.bin', 'hello');
    const p = store.localPath('a/b/c.bin');
    expect(p).toBe(join(dir, 'objects', 'a', 'b', 'c.bin'));
    expect(await readFile(p, 'utf8')).toBe('hello');
    expect(store.url).toBe(`file://${dir}`);
    expect(store.kind).toBe('local');
  });

  it('never lists temp files, scratch files or the lock database', async () => {
    await store.put('k', 'v');
    await writeFile(join(dir, '.tmp', 'leftover.tmp'), 'partial');
    await writeFile(join(store.scratchDir(), 'building'), 'x');
    expect(existsSync(join(dir, '.lock.sqlite'))).toBe(true);
    expect((await store.list('')).map((o) => o.key)).toEqual(['k']);
  });

  it('scratchDir is on the same filesystem, so consume is a rename', async () => {
    const src = join(store.scratchDir(), 'seg.bin');
    await writeFile(src, 'segment bytes');
    const ino = (await stat(src)).ino;
    await store.putFile('seg/1', src, { consume: true });
    expect(existsSync(src)).toBe(false);
    expect((await stat(store.localPath('seg/1'))).ino).toBe(ino);
    expect(await readFile(store.localPath('seg/1'), 'utf8')).toBe('segment bytes');
  });

  it('consume moves a file from another directory of the same filesystem', async () => {
    const src = join(dir, 'elsewhere.bin');
    await writeFile(src, 'moved');
    await store.putFile('m', src, { consume: true });
    expect(existsSync(src)).toBe(false);
    expect(await readFile(store.localPath('m'), 'utf8')).toBe('moved');
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('consume gives the file back when the precondition fails', async () => {
    await store.put('taken', 'first');
    const src = join(dir, 'mine.bin');
    await writeFile(src, 'second');
    await expect(store.putFile('taken', src, { consume: true, ifNoneMatch: '*' })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect(await readFile(src, 'utf8')).toBe('second');
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('refuses a body whose SHA-256 differs from the one given', async () => {
    const e = await store.put('x', 'abc', { sha256: '0'.repeat(64) }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(IntegrityError);
    expect((e as IntegrityError).code).toBe(ErrorCodes.STORE_INTEGRITY);
    const src = join(dir, 'f');
    await writeFile(src, 'abc');
    await expect(store.putFile('x', src, { sha256: '1'.repeat(64), consume: true })).rejects.toBeInstanceOf(
      IntegrityError,
    );
    expect(existsSync(src)).toBe(true);
    expect(await store.head('x')).toBeUndefined();
    expect(await readdir(join(dir, '.tmp'))).toEqual([]);
  });

  it('refuses keys that escape the root, and a key that is also a directory', async () => {
    expect(() => store.localPath('../outside')).toThrow(StrataError);
    await store.put('a/b', 'x');
    const e1 = await store.put('a', 'y').catch((e: unknown) => e);
    expect((e1 as StrataError).code).toBe(ErrorCodes.STORE_KEY);
    const e2 = await store.put('a/b/c', 'y').catch((e: unknown) => e);
    expect((e2 as StrataError).code).toBe(ErrorCodes.STORE_KEY);
    expect(text(await store.get('a/b'))).toBe('x');
    expect(await store.head('a')).toBeUndefined();
  });

  it('head recomputes the etag when the file changes behind its back', async () => {
    const info = await store.put('h', 'one');
    expect((await store.head('h'))?.etag).toBe(info.etag);
    await writeFile(store.localPath('h'), 'two!');
    const later = new Date(Date.now() + 5000);
    await utimes(store.localPath('h'), later, later);
    const h = await store.head('h');
    expect(h?.etag).not.toBe(info.etag);
    expect(h?.size).toBe(4);
  });

  it('removeTempFiles removes old leftovers only', async () => {
    const old = join(dir, '.tmp', 'old.tmp');
    const fresh = join(dir, '.tmp', 'fresh.tmp');
    await writeFile(old, 'x');
    await writeFile(fresh, 'y');
    const past = new Date(Date.now() - 3_600_000);
    await utimes(old, past, past);
    expect(await store.removeTempFiles(60_000)).toBe(1);
    expect(await readdir(join(dir, '.tmp'))).toEqual(['fresh.tmp']);
  });

  it('close is idempotent and later calls throw ClosedError', async () => {
    await store.close();
    await store.close();
    await expect(store.put('k', 'v')).rejects.toBeInstanceOf(ClosedError);
    await expect(store.get('k')).rejects.toBeInstanceOf(ClosedError);
    store = await LocalStore.open(dir);
  });

  it('serialises conditional puts across store instances in one process', async () => {
    const stores = await Promise.all(Array.from({ length: 8 }, () => LocalStore.open(dir)));
    try {
      const base = await store.put('multi', 'base');
      const results = await Promise.allSettled(
        stores.map((s, i) => s.put('multi', `instance-${i}`, { ifMatch: base.etag! })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('openStore opens paths and file URLs as LocalStore, and s3:// as S3Store', async () => {
    const a = await openStore(dir);
    const b = await openStore(`file://${dir}`);
    try {
      await a.put('via-path', '1');
      expect(text(await b.get('via-path'))).toBe('1');
      expect(a.kind).toBe('local');
    } finally {
      await a.close();
      await b.close();
    }
    const s3 = await openStore('s3://bucket/prefix'); // no network I/O at open
    expect(s3.kind).toBe('s3');
    await s3.close();
    await expect(openStore('http://example.com/x')).rejects.toBeInstanceOf(UsageError);
  });

  describe('across processes', () => {
    it('CROSS-PROCESS RACE: 4 processes × 20 ifMatch attempts build one linear history', async () => {
      await store.put('shared', 'initial');
      const startAt = Date.now() + 2500;
      const kids = Array.from({ length: 4 }, (_, i) =>
        child(['cas', dir, 'shared', '20', `p${i}`, String(startAt)]),
      );
      const results = await Promise.all(
        kids.map(async (k) => {
          const ex = await k.exited;
          if (ex.code !== 0) {
            throw new Error(`cas child exited ${ex.code ?? ex.signal}: ${ex.stderr}\nstdout: ${k.stdout()}`);
          }
          try {
            return JSON.parse(k.stdout().trim()) as {
              wins: { prev: string; next: string }[];
              losses: number;
            };
          } catch {
            throw new Error(`cas child printed no result: ${k.stdout()}\nstderr: ${ex.stderr}`);
          }
        }),
      );
      const wins = results.flatMap((r) => r.wins);
      const history = JSON.stringify(results);
      const attempts = results.reduce((n, r) => n + r.wins.length + r.losses, 0);
      expect(attempts, history).toBe(80);
      // every win replaced a distinct version: no two winners saw the same predecessor
      const prevs = new Set(wins.map((w) => w.prev));
      expect(prevs.size, history).toBe(wins.length);
      expect(new Set(wins.map((w) => w.next)).size).toBe(wins.length);
      // and the wins form one chain from the initial version to the final object
      const byPrev = new Map(wins.map((w) => [w.prev, w.next]));
      let cur = 'initial';
      let steps = 0;
      while (byPrev.has(cur)) {
        cur = byPrev.get(cur)!;
        steps++;
      }
      expect(steps, history).toBe(wins.length);
      expect(text(await store.get('shared')), history).toBe(cur);
      expect(wins.length).toBeGreaterThan(0);
    }, 60_000);

    it('a process SIGKILLed while holding the lock blocks nobody', async () => {
      const holder = child(['hold', dir, 'contested']);
      await waitFor(() => holder.stdout().includes('LOCKED'), 20_000);
      // the lock is really held: our put waits
      let done = false;
      const p = store.put('contested', 'parent', { ifNoneMatch: '*' }).then((r) => {
        done = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(done).toBe(false);
      holder.proc.kill('SIGKILL');
      const ex = await holder.exited;
      expect(ex.signal).toBe('SIGKILL');
      const t0 = Date.now();
      await p;
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(text(await store.get('contested'))).toBe('parent');
    }, 30_000);

    it('a lock wait times out with a transient StoreError', async () => {
      const holder = child(['hold', dir, 'contested']);
      try {
        await waitFor(() => holder.stdout().includes('LOCKED'), 20_000);
        const impatient = await LocalStore.open(dir, { lockTimeoutMs: 200 });
        const e = await impatient.put('other', 'x').catch((err: unknown) => err);
        await impatient.close();
        expect((e as StrataError).code).toBe(ErrorCodes.STORE_IO);
        expect((e as { transient?: boolean }).transient).toBe(true);
      } finally {
        holder.proc.kill('SIGKILL');
        await holder.exited;
      }
    }, 30_000);

    it('a crash at store.put.partial leaves only a temp file, never a partial object', async () => {
      await store.put('obj', 'version one');
      const k = child(['put', dir, 'obj', String(1 << 20)], { STRATA_FAILPOINTS: 'store.put.partial=crash' });
      const ex = await k.exited;
      expect(ex.signal).toBe('SIGKILL');
      expect(k.stdout()).not.toContain('DONE');
      expect(text(await store.get('obj'))).toBe('version one');
      const k2 = child(['put', dir, 'new/obj', String(1 << 20)], {
        STRATA_FAILPOINTS: 'store.put.partial=crash',
      });
      expect((await k2.exited).signal).toBe('SIGKILL');
      expect(await store.head('new/obj')).toBeUndefined();
      expect((await store.list('')).map((o) => o.key)).toEqual(['obj']);
      const temps = await readdir(join(dir, '.tmp'));
      expect(temps).toHaveLength(2);
      for (const t of temps) expect((await stat(join(dir, '.tmp', t))).size).toBe(1 << 19);
      expect(await store.removeTempFiles(0)).toBe(2);
      expect(await readdir(join(dir, '.tmp'))).toEqual([]);
    }, 30_000);

    it('a crash at store.put.partial during putFile leaves the old object intact', async () => {
      await store.put('file-obj', 'old');
      const src = join(dir, 'src.bin');
      await writeFile(src, randomBytes(3 << 20));
      const k = child(['putfile', dir, 'file-obj', src], { STRATA_FAILPOINTS: 'store.put.partial=crash' });
      expect((await k.exited).signal).toBe('SIGKILL');
      expect(text(await store.get('file-obj'))).toBe('old');
      const temps = await readdir(join(dir, '.tmp'));
      expect(temps).toHaveLength(1);
      expect((await stat(join(dir, '.tmp', temps[0]!))).size).toBe((3 << 20) / 2);
    }, 30_000);
  });
});

function text(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
}
