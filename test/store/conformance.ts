/**
 * The ObjectStore conformance suite. Every backend runs it (against a real server where there is one):
 *
 *   storeConformance('LocalStore', async () => ({ store, cleanup }));
 *
 * `factory` is called before every test and must return an empty store; `cleanup` closes it and removes
 * whatever it holds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes, NotFoundError, PreconditionFailedError, StrataError } from '../../src/core/errors.js';
import type { ObjectInfo, ObjectStore } from '../../src/store/object-store.js';

export interface StoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

export interface ConformanceOptions {
  /**
   * false for backends that ignore If-None-Match / If-Match (s3rver): the precondition and race tests are
   * left out, and the suite's name says so. Default true.
   */
  preconditions?: boolean;
}

export function storeConformance(
  name: string,
  factory: () => Promise<StoreFixture>,
  options: ConformanceOptions = {},
): void {
  const preconditions = options.preconditions !== false;
  const title = preconditions ? name : `${name} (precondition and race tests NOT run: backend ignores them)`;
  describe(`ObjectStore conformance: ${title}`, () => {
    let fx: StoreFixture;
    let store: ObjectStore;
    let scratch: string;

    beforeEach(async () => {
      fx = await factory();
      store = fx.store;
      scratch = await mkdtemp(join(tmpdir(), 'strata-conformance-'));
    });
    afterEach(async () => {
      await fx.cleanup();
      await rm(scratch, { recursive: true, force: true });
    });

    describe('round trips', () => {
      it('puts and gets binary bodies exactly, with head/put/getObject agreeing on size and etag', async () => {
        const body = new Uint8Array(256 * 4 + 17);
        for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
        const put = await store.put('bin/all-bytes', body);
        expect(put.key).toBe('bin/all-bytes');
        expect(put.size).toBe(body.length);
        expect(put.etag).toBeTruthy();
        const got = await store.get('bin/all-bytes');
        expect(Buffer.from(got).equals(Buffer.from(body))).toBe(true);
        const head = await store.head('bin/all-bytes');
        expect(head?.size).toBe(body.length);
        expect(head?.etag).toBe(put.etag);
        if (head?.sha256 !== undefined) expect(head.sha256).toBe(sha(body));
        if (put.sha256 !== undefined) expect(put.sha256).toBe(sha(body));
        const obj = await store.getObject('bin/all-bytes');
        expect(Buffer.from(obj.body).equals(Buffer.from(body))).toBe(true);
        expect(obj.info.etag).toBe(put.etag);
        expect(obj.info.size).toBe(body.length);
      });

      it('stores strings as UTF-8', async () => {
        const s = 'zürich ✓ 東京 🚀';
        await store.put('s.txt', s);
        expect(text(await store.get('s.txt'))).toBe(s);
        expect((await store.head('s.txt'))?.size).toBe(Buffer.byteLength(s));
      });

      it('stores an empty body', async () => {
        const info = await store.put('empty', new Uint8Array(0));
        expect(info.size).toBe(0);
        expect((await store.get('empty')).byteLength).toBe(0);
        expect((await store.head('empty'))?.size).toBe(0);
        expect((await store.list('')).map((o) => o.key)).toEqual(['empty']);
      });

      it('stores nested keys', async () => {
        await store.put('x/y/z/deep.bin', 'deep');
        await store.put('x/top', 'top');
        expect(text(await store.get('x/y/z/deep.bin'))).toBe('deep');
        expect(text(await store.get('x/top'))).toBe('top');
      });

      it('overwrites unconditionally', async () => {
        await store.put('k', 'one');
        await store.put('k', 'two');
        expect(text(await store.get('k'))).toBe('two');
      });

      it('deletes; deleting a missing key is fine', async () => {
        await store.put('d/1', 'x');
        await store.delete('d/1');
        expect(await store.head('d/1')).toBeUndefined();
        await expect(store.get('d/1')).rejects.toBeInstanceOf(NotFoundError);
        expect(await store.list('d/')).toEqual([]);
        await store.delete('d/1');
        await store.delete('never/was');
      });
    });

    describe('missing keys', () => {
      it('get, getObject and getToFile throw NotFoundError naming the key; head returns undefined', async () => {
        const err = await store.get('no/such').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as NotFoundError).code).toBe(ErrorCodes.NOT_FOUND);
        expect((err as NotFoundError).context.key).toBe('no/such');
        await expect(store.getObject('no/such')).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.getToFile('no/such', join(scratch, 'out'))).rejects.toBeInstanceOf(NotFoundError);
        expect(await store.head('no/such')).toBeUndefined();
      });
    });

    describe('list', () => {
      const keys = ['p/a/b/1', 'p/a/b/2', 'p/a/bc/3', 'p/a/bd', 'p/ab', 'p/b/x', 'q/other'];
      beforeEach(async () => {
        for (const [i, k] of keys.entries()) await store.put(k, 'x'.repeat(i + 1));
      });

      it('lists exactly the keys under a directory prefix', async () => {
        const l = await store.list('p/a/b/');
        expect(l.map((o) => o.key)).toEqual(['p/a/b/1', 'p/a/b/2']);
        expect(l.map((o) => o.size)).toEqual([1, 2]);
      });

      it('treats a prefix without a trailing slash as a string prefix', async () => {
        expect((await store.list('p/a/b')).map((o) => o.key)).toEqual([
          'p/a/b/1',
          'p/a/b/2',
          'p/a/bc/3',
          'p/a/bd',
        ]);
        expect((await store.list('p/a')).map((o) => o.key)).toEqual([
          'p/a/b/1',
          'p/a/b/2',
          'p/a/bc/3',
          'p/a/bd',
          'p/ab',
        ]);
      });

      it('lists everything, sorted, with sizes and dates', async () => {
        const l = await store.list('');
        expect(l.map((o) => o.key)).toEqual([...keys].sort());
        for (const o of l) {
          expect(o.size).toBe(keys.indexOf(o.key) + 1);
          if (o.lastModified !== undefined) expect(o.lastModified).toBeInstanceOf(Date);
        }
      });

      it('returns nothing for prefixes that match nothing', async () => {
        expect(await store.list('p/zz')).toEqual([]);
        expect(await store.list('nothing/here/')).toEqual([]);
        expect(await store.list('p/a/b/1/')).toEqual([]);
      });

      it('lists a single exact key as its own prefix', async () => {
        expect((await store.list('p/ab')).map((o) => o.key)).toEqual(['p/ab']);
      });
    });

    describe('files', () => {
      it('putFile and getToFile move a 20 MB file intact', async () => {
        const src = join(scratch, 'big.bin');
        const data = randomBytes(20 << 20);
        await writeFile(src, data);
        const info = await store.putFile('files/big.bin', src);
        expect(info.size).toBe(data.length);
        if (info.sha256 !== undefined) expect(info.sha256).toBe(sha(data));
        expect((await store.head('files/big.bin'))?.size).toBe(data.length);
        const out = join(scratch, 'back.bin');
        const got = await store.getToFile('files/big.bin', out);
        expect(got.size).toBe(data.length);
        expect(sha(await readFile(out))).toBe(sha(data));
        // without consume the source stays
        expect((await readFile(src)).length).toBe(data.length);
      });

      it('putFile with consume stores the content', async () => {
        const src = join(scratch, 'c.bin');
        await writeFile(src, 'consumed content');
        await store.putFile('files/c', src, { consume: true });
        expect(text(await store.get('files/c'))).toBe('consumed content');
      });

      it('getToFile replaces an existing destination file', async () => {
        await store.put('f', 'new content');
        const out = join(scratch, 'dest');
        await writeFile(out, 'old content that is longer');
        await store.getToFile('f', out);
        expect(await readFile(out, 'utf8')).toBe('new content');
      });

      // Backends that cannot honour preconditions (s3rver) do not register these tests at all: the suite's
      // name says so, and nothing shows up as "skipped".
      const itPre = preconditions ? it : () => {};
      itPre('putFile honours preconditions', async () => {
        const src = join(scratch, 'p.bin');
        await writeFile(src, 'one');
        const first = await store.putFile('files/p', src, { ifNoneMatch: '*' });
        await writeFile(src, 'two');
        await expect(store.putFile('files/p', src, { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        );
        await store.putFile('files/p', src, { ifMatch: first.etag! });
        expect(text(await store.get('files/p'))).toBe('two');
      });
    });

    (preconditions ? describe : () => {})('conditional writes', () => {
      it('ifNoneMatch "*" creates once', async () => {
        await store.put('once', 'first', { ifNoneMatch: '*' });
        const err = await store.put('once', 'second', { ifNoneMatch: '*' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PreconditionFailedError);
        expect((err as PreconditionFailedError).code).toBe(ErrorCodes.PRECONDITION_FAILED);
        expect((err as PreconditionFailedError).context.key).toBe('once');
        expect(text(await store.get('once'))).toBe('first');
      });

      it('ifMatch replaces with the right etag, refuses a wrong or missing one', async () => {
        const v1 = await store.put('cas', 'v1');
        await expect(store.put('cas', 'bad', { ifMatch: 'not-the-etag' })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        );
        expect(text(await store.get('cas'))).toBe('v1');
        const v2 = await store.put('cas', 'v2', { ifMatch: v1.etag! });
        expect(v2.etag).not.toBe(v1.etag);
        expect(text(await store.get('cas'))).toBe('v2');
        // the old etag is stale now
        await expect(store.put('cas', 'v3', { ifMatch: v1.etag! })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        );
        expect(text(await store.get('cas'))).toBe('v2');
        // ifMatch on a key that does not exist
        await expect(store.put('cas-missing', 'x', { ifMatch: v2.etag! })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        );
        expect(await store.head('cas-missing')).toBeUndefined();
      });

      it('ifMatch with the etag from head and from getObject', async () => {
        await store.put('cas2', 'a');
        const h = await store.head('cas2');
        await store.put('cas2', 'b', { ifMatch: h!.etag! });
        const o = await store.getObject('cas2');
        expect(text(o.body)).toBe('b');
        await store.put('cas2', 'c', { ifMatch: o.info.etag! });
        expect(text(await store.get('cas2'))).toBe('c');
      });

      it('etags change when the content changes', async () => {
        const seen = new Set<string>();
        for (const body of ['a', 'b', 'ab', '', 'a\n']) {
          const info = await store.put('etag', body);
          const h = await store.head('etag');
          expect(h?.etag).toBe(info.etag);
          seen.add(info.etag!);
        }
        expect(seen.size).toBe(5);
      });

      it('a delete makes an old etag stale and ifNoneMatch possible again', async () => {
        const v1 = await store.put('dk', 'v1', { ifNoneMatch: '*' });
        await store.delete('dk');
        await expect(store.put('dk', 'v2', { ifMatch: v1.etag! })).rejects.toBeInstanceOf(
          PreconditionFailedError,
        );
        await store.put('dk', 'v3', { ifNoneMatch: '*' });
        expect(text(await store.get('dk'))).toBe('v3');
      });

      it('RACE: of 8 concurrent puts with the same ifMatch exactly one wins', async () => {
        const base = await store.put('race', 'base');
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) => store.put('race', `racer-${i}`, { ifMatch: base.etag! })),
        );
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
        }
        expect(text(await store.get('race'))).toBe(`racer-${won[0]}`);
      });

      it('RACE: of 8 concurrent creates with ifNoneMatch exactly one wins', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) => store.put('race-create', `racer-${i}`, { ifNoneMatch: '*' })),
        );
        const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
        }
        expect(text(await store.get('race-create'))).toBe(`racer-${won[0]}`);
      });

      it('RACE: a chain of compare-and-swap increments loses no update', async () => {
        await store.put('counter', '0');
        const bump = async (): Promise<void> => {
          for (;;) {
            const { body, info } = await store.getObject('counter');
            try {
              await store.put('counter', String(Number(text(body)) + 1), { ifMatch: info.etag! });
              return;
            } catch (e) {
              if (!(e instanceof PreconditionFailedError)) throw e;
            }
          }
        };
        await Promise.all(Array.from({ length: 10 }, bump));
        expect(text(await store.get('counter'))).toBe('10');
      });
    });

    describe('keys', () => {
      const bad = [
        '',
        '/abs',
        'a/../b',
        '..',
        '../x',
        'a//b',
        'a/',
        './a',
        'a/./b',
        'nul\u0000key',
        'back\\slash',
      ];
      it.each(bad.map((k) => [JSON.stringify(k), k]))('refuses %s', async (_, key) => {
        const check = async (p: Promise<unknown>): Promise<void> => {
          const e = await p.then(
            () => undefined,
            (err: unknown) => err,
          );
          expect(e).toBeInstanceOf(StrataError);
          expect((e as StrataError).code).toBe(ErrorCodes.STORE_KEY);
        };
        await check(store.put(key, 'x'));
        await check(store.get(key));
        await check(store.head(key));
        await check(store.delete(key));
      });

      it('accepts ordinary keys with dots, dashes, spaces, unicode and #', async () => {
        const good = ['a.b', '.hidden', 'x/..y', 'x/y..', 'sp ace', 'ünï/cödé', 'IMAGE#1#LINE#2', 'a-b_c=d'];
        for (const k of good) await store.put(k, k);
        const listed: ObjectInfo[] = await store.list('');
        expect(listed.map((o) => o.key).sort()).toEqual([...good].sort());
        for (const k of good) expect(text(await store.get(k))).toBe(k);
      });
    });
  });
}
