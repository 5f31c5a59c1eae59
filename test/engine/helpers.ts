import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CollectionConfig, Metric, Quantization } from '../../src/core/types.js';
import type { SegmentRow } from '../../src/engine/index.js';

export function config(over: Partial<CollectionConfig> = {}): CollectionConfig {
  return {
    name: 'test',
    dimension: 8,
    metric: 'cos' as Metric,
    quantization: 'f32' as Quantization,
    connectivity: 16,
    expansionAdd: 128,
    expansionSearch: 64,
    createdAt: '2024-01-01T00:00:00.000Z',
    ...over,
  };
}

/** mulberry32: small deterministic PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomVector(r: () => number, d: number): Float32Array {
  const v = new Float32Array(d);
  for (let i = 0; i < d; i++) v[i] = r() * 2 - 1;
  return v;
}

/** n vectors around `clusters` random centres (gaussian-ish noise), row-major. */
export function clustered(r: () => number, n: number, d: number, clusters = 50, spread = 0.35): Float32Array {
  const centres = Array.from({ length: clusters }, () => randomVector(r, d));
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = centres[Math.floor(r() * clusters)]!;
    for (let j = 0; j < d; j++) out[i * d + j] = c[j]! + (r() + r() + r() - 1.5) * spread;
  }
  return out;
}

export function put(
  id: string,
  embedding: Float32Array,
  seq = 1,
  extra: Partial<SegmentRow> = {},
): SegmentRow {
  return { id, kind: 'put', seq, embedding, document: null, metadata: null, ...extra };
}

export function tmp(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'strata-engine-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Open descriptors and mappings of this process under `dir` (Linux only; null elsewhere). */
export function openHandlesUnder(dir: string): { fds: string[]; maps: number } | null {
  if (process.platform !== 'linux') return null;
  const fds: string[] = [];
  for (const f of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${f}`);
      if (target.startsWith(dir)) fds.push(target);
    } catch {
      // closed meanwhile
    }
  }
  const maps = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir)).length;
  return { fds, maps };
}
