/**
 * Random workloads for the torture campaign: collections of random shape and deltas of random upserts,
 * updates and deletes (of live and of absent ids), all drawn from one seeded PRNG so a run replays.
 */

import type { Rng } from '../../src/core/random.js';
import type { Metadata, MetadataPatch, Metric, Operation, Quantization } from '../../src/core/types.js';

export interface CollectionShape {
  name: string;
  dimension: number;
  metric: Metric;
  quantization: Quantization;
}

const DIMENSIONS = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256] as const;

/** Dimension 8–256, skewed towards small ones (most of a run's time goes into index builds). */
export function randomShape(rng: Rng, name: string): CollectionShape {
  const dimension = rng.chance(0.6) ? rng.pick(DIMENSIONS.slice(0, 5)) : rng.pick(DIMENSIONS);
  return {
    name,
    dimension,
    metric: rng.pick(['cos', 'l2sq', 'ip'] as const),
    quantization: rng.pick(['f32', 'f16'] as const),
  };
}

const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'kappa', 'sigma', 'zeta'] as const;
/** Some ids outside ASCII (all in NFC), so normalisation and byte ordering are exercised. */
const ID_PREFIXES = ['id', 'doc', 'ü', 'ñ', '東京', 'x-y', 'Ωmega'] as const;

function vector(rng: Rng, dimension: number): Float32Array {
  const v = new Float32Array(dimension);
  for (let i = 0; i < dimension; i++) v[i] = rng.normal();
  return v;
}

function metadata(rng: Rng): Metadata | null {
  if (rng.chance(0.2)) return null;
  const m: Metadata = {};
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) {
    const k = rng.pick(WORDS);
    switch (rng.int(4)) {
      case 0:
        m[k] = rng.int(1000) - 500;
        break;
      case 1:
        m[k] = rng.pick(WORDS);
        break;
      case 2:
        m[k] = rng.chance(0.5);
        break;
      default:
        m[k] = [rng.pick(WORDS), rng.int(10)];
    }
  }
  return m;
}

function patch(rng: Rng): MetadataPatch | null | undefined {
  const r = rng.int(4);
  if (r === 0) return undefined;
  if (r === 1) return null;
  const p: MetadataPatch = {};
  p[rng.pick(WORDS)] = rng.chance(0.3) ? null : rng.int(100);
  return p;
}

/** Generates operations; remembers which ids it has created (deleted ones too: they get re-upserted). */
export class OpGenerator {
  #ids: string[] = [];
  #next = 0;
  constructor(
    private readonly rng: Rng,
    private readonly dimension: number,
  ) {}

  #newId(): string {
    const id = `${this.rng.pick(ID_PREFIXES)}-${this.#next++}`;
    this.#ids.push(id);
    return id;
  }

  #someId(): string {
    return this.#ids.length === 0 || this.rng.chance(0.05)
      ? `ghost-${this.rng.int(1000)}`
      : this.rng.pick(this.#ids);
  }

  op(): Operation {
    const rng = this.rng;
    const r = rng.next();
    if (r < 0.5 || this.#ids.length === 0) {
      return {
        op: 'upsert',
        id: this.#newId(),
        embedding: vector(rng, this.dimension),
        document: rng.chance(0.7) ? `text ${rng.pick(WORDS)} ${rng.int(1e6)}` : null,
        metadata: metadata(rng),
      };
    }
    if (r < 0.65) {
      return {
        op: 'upsert',
        id: this.#someId(),
        embedding: vector(rng, this.dimension),
        document: rng.chance(0.5) ? `rewritten ${rng.int(1e6)}` : null,
        metadata: metadata(rng),
      };
    }
    if (r < 0.82) {
      const u: Operation = { op: 'update', id: this.#someId() };
      const d = rng.int(3);
      if (d === 1) u.document = `updated ${rng.int(1e6)}`;
      else if (d === 2) u.document = null;
      const m = patch(rng);
      if (m !== undefined) u.metadata = m;
      return u;
    }
    return { op: 'delete', id: this.#someId() };
  }

  /** One delta's operations (an id may appear several times: later operations win, in order). */
  delta(size: number): Operation[] {
    return Array.from({ length: size }, () => this.op());
  }
}
