import type { Metric } from '../core/types.js';

/**
 * Distances exactly as usearch defines them (smaller is closer):
 * - cos:  1 - cos(a, b); 0 when both vectors are zero, 1 when only one is
 * - l2sq: squared Euclidean distance
 * - ip:   1 - a·b
 * Accumulates in double precision; usearch's SIMD kernels agree to about 1e-6 relative.
 */
export function distance(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  switch (metric) {
    case 'cos':
      return cosineDistance(a, b);
    case 'l2sq':
      return l2sqDistance(a, b);
    case 'ip':
      return ipDistance(a, b);
  }
}

export function cosineDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  if (na === 0 && nb === 0) return 0;
  if (na === 0 || nb === 0) return 1;
  return 1 - dot / Math.sqrt(na * nb);
}

export function l2sqDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s;
}

export function ipDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  const n = a.length;
  for (let i = 0; i < n; i++) dot += a[i]! * b[i]!;
  return 1 - dot;
}
