import { exactSearch, Matches, MetricKind } from 'usearch';
import { describe, expect, it } from 'vitest';
import type { Metric } from '../../src/core/types.js';
import { distance } from '../../src/engine/index.js';
import { randomVector, rng } from './helpers.js';

const KIND: Record<Metric, MetricKind> = { cos: MetricKind.Cos, l2sq: MetricKind.L2sq, ip: MetricKind.IP };

describe('distance', () => {
  it.each(['cos', 'l2sq', 'ip'] as const)('matches usearch for %s', (metric) => {
    const r = rng(7);
    for (let t = 0; t < 50; t++) {
      const a = randomVector(r, 33);
      const b = randomVector(r, 33);
      const m = exactSearch(b, a, 33, 1, KIND[metric], 1) as Matches;
      expect(m).toBeInstanceOf(Matches);
      expect(distance(metric, a, b)).toBeCloseTo(m.distances[0]!, 4);
    }
  });

  it('handles zero vectors like usearch under cos', () => {
    const z = new Float32Array(4);
    const v = Float32Array.of(1, 2, 3, 4);
    expect(distance('cos', z, z)).toBe(0);
    expect(distance('cos', z, v)).toBe(1);
    expect(distance('cos', v, v)).toBeCloseTo(0, 12);
    expect(distance('l2sq', v, z)).toBe(30);
    expect(distance('ip', v, v)).toBe(-29);
  });
});
