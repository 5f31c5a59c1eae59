/** Small statistics helpers for benchmarks: medians and percentiles of repeated measurements. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}

export const median = (xs: number[]) => percentile(xs, 50);

export const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

/** Times a synchronous function n times; returns per-call milliseconds. */
export function timeEach(n: number, fn: (i: number) => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    fn(i);
    out.push(performance.now() - t);
  }
  return out;
}

/** One row of the Markdown table: what was measured, against what, and the goal. */
export interface BenchRow {
  bench: string;
  metric: string;
  strata: string;
  baseline: string;
  ratio: string;
  goal: string;
  met: boolean | null;
}

export interface BenchSection {
  name: string;
  rows: BenchRow[];
  data: Record<string, unknown>;
}
