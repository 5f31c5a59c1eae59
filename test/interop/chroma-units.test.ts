/** The pieces of the Chroma reader that need no server: pickles, hnsw headers, cosine views, in-use signals. */
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, type StrataError } from '../../src/core/errors.js';
import { chromaPreimage, chromaView } from '../../src/interop/chroma/cosine.js';
import { parseHeader } from '../../src/interop/chroma/hnsw-files.js';
import { ChromaHttp } from '../../src/interop/chroma/http.js';
import { inspectInUse } from '../../src/interop/chroma/in-use.js';
import { readPickle } from '../../src/interop/chroma/pickle.js';
import { tempDir } from '../helpers/tmp.js';

const hex = (s: string) => Buffer.from(s, 'hex');

describe('pickle reader', () => {
  it("reads Chroma's index_metadata.pickle shape (protocol 3, memoized dicts)", () => {
    const v = readPickle(
      hex(
        '80037d710028580e00000064696d656e73696f6e616c69747971014e5814000000746f74616c5f656c656d656e74735f616464656471024b02580a0000006d61785f7365715f696471034e580b00000069645f746f5f6c6162656c71047d71052858010000006171064b0158010000006271074b0275580b0000006c6162656c5f746f5f696471087d7109284b0168064b02680775580c00000069645f746f5f7365715f6964710a7d710b752e',
      ),
      'x.pickle',
    ) as Map<string, unknown>;
    expect(v.get('total_elements_added')).toBe(2);
    expect(v.get('dimensionality')).toBeNull();
    expect([...(v.get('label_to_id') as Map<number, string>)]).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect((v.get('id_to_label') as Map<string, number>).get('b')).toBe(2);
  });

  it('reads protocol 4 frames, longs, floats and lists', () => {
    const v = readPickle(
      hex(
        '8004953d000000000000007d94288c03626967948a090000000000000000408c036e6567944afbffffff8c016694473ff80000000000008c016c945d94284b018c0178948865752e',
      ),
      'x.pickle',
    ) as Map<string, unknown>;
    expect(v.get('big')).toBe(2n ** 70n);
    expect(v.get('neg')).toBe(-5);
    expect(v.get('f')).toBe(1.5);
    expect(v.get('l')).toEqual([1, 'x', true]);
  });

  it('refuses opcodes that would import or call code, and truncated input', () => {
    const err = (() => {
      try {
        readPickle(hex('800363706f7369780a73797374656d0a71002e'), 'evil.pickle');
      } catch (e) {
        return e as StrataError;
      }
    })();
    expect(err?.code).toBe(ErrorCodes.CHROMA_FORMAT);
    expect(() => readPickle(hex('80037d7100285801000000'), 't.pickle')).toThrow(/truncated/);
  });
});

describe('hnsw header', () => {
  it('a short header is a truncated index file', () => {
    try {
      parseHeader(Buffer.alloc(40), 'header.bin');
      expect.unreachable();
    } catch (e) {
      expect((e as StrataError).code).toBe(ErrorCodes.CHROMA_INDEX_TRUNCATED);
    }
  });
});

describe("Chroma's cosine view", () => {
  it('an exact preimage exists for what Chroma serves: export → import is bit-identical', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.constantFrom(1e-3, 1, 1e3),
        (dim, seed, scale) => {
          let s = seed | 1;
          const v = Float32Array.from({ length: dim }, () => {
            s ^= s << 13;
            s ^= s >>> 17;
            s ^= s << 5;
            return ((s >>> 0) / 2 ** 32 - 0.5) * scale;
          });
          const served = chromaView(v);
          const pre = chromaPreimage(served);
          expect(pre).not.toBeNull();
          expect(Buffer.from(chromaView(pre!).buffer).equals(Buffer.from(served.buffer))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('in-use detection', () => {
  it('a leftover SQLite journal means a writer is (or was) mid-transaction', async () => {
    await using t = await tempDir('strata-chroma-inuse');
    const dir = join(t.dir, 'db');
    await mkdir(dir);
    await writeFile(join(dir, 'chroma.sqlite3'), '');
    expect(inspectInUse(dir).inUse).toBe(false);
    await writeFile(join(dir, 'chroma.sqlite3-journal'), 'x');
    const r = inspectInUse(dir);
    expect(r.inUse).toBe(true);
    expect(r.reasons[0]).toMatch(/journal/);
  });
});

describe('batched adds', () => {
  it('splits a batch the server refuses as too large (413) and keeps the smaller size', async () => {
    const received: string[][] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      req.on('end', () => {
        const { ids } = JSON.parse(body) as { ids: string[] };
        if (ids.length > 3) {
          res.writeHead(413).end('Payload too large');
          return;
        }
        received.push(ids);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const http = new ChromaHttp(`http://127.0.0.1:${port}`);
      const ids = Array.from({ length: 11 }, (_, i) => `r${i}`);
      const used = await http.addBatched(
        { id: 'c', name: 'c', tenant: 'default_tenant', database: 'default_database' },
        { ids, embeddings: ids.map(() => new Float32Array([1, 2])) },
        10,
      );
      expect(used).toBe(2);
      expect(received.flat()).toEqual(ids);
      expect(Math.max(...received.map((b) => b.length))).toBeLessThanOrEqual(3);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
