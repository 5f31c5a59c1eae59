/**
 * Chroma's cosine spaces store each vector divided by its norm, plus the norm, and return their product:
 * what a reader gets back is not the float32 vector that was written but `round(round(x·inv)·len)`.
 * Measured bit-exact against the real server (chromadb 3.0.14 / server 1.0.0, dims 1..1536): the squared
 * norm is summed in float32 over 4 lanes (lane l takes elements l, l+4, …), the lanes are reduced as
 * (l0+l2)+(l1+l3), the tail (dim mod 4) is added in order; len = sqrtf(sum), inv = 1/(len+1e-30).
 *
 * `chromaView` reproduces that, so imported log entries equal what Chroma serves. `chromaPreimage` solves
 * the inverse problem for export: a vector x whose Chroma view is exactly the target, so that a snapshot
 * exported to Chroma and imported back is bit-identical (sending the target itself drifts in ~70% of vectors).
 */

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const fr = Math.fround;

function squaredNorm(v: ArrayLike<number>): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  const n = v.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 = fr(a0 + fr(v[i]! * v[i]!));
    a1 = fr(a1 + fr(v[i + 1]! * v[i + 1]!));
    a2 = fr(a2 + fr(v[i + 2]! * v[i + 2]!));
    a3 = fr(a3 + fr(v[i + 3]! * v[i + 3]!));
  }
  let s = fr(fr(a0 + a2) + fr(a1 + a3));
  for (; i < n; i++) s = fr(s + fr(v[i]! * v[i]!));
  return s;
}

/** The norm Chroma computes for a vector (float32). */
export function chromaNorm(v: ArrayLike<number>): number {
  return fr(Math.sqrt(squaredNorm(v)));
}

function inverse(len: number): number {
  return fr(1 / fr(len + 1e-30));
}

/** What a Chroma cosine collection returns for a vector that was written as `v`. */
export function chromaView(v: Float32Array): Float32Array {
  return viewWith(v, chromaNorm(v));
}

function viewWith(v: ArrayLike<number>, len: number): Float32Array {
  const inv = inverse(len);
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = fr(v[i]! * inv) * len;
  return out;
}

function equal(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Floats in total order as integers (so "k ulps away" is integer arithmetic). */
function ordOf(x: number): number {
  f32[0] = x;
  const b = i32[0]!;
  return b < 0 ? -(b & 0x7fffffff) : b;
}
function fromOrd(o: number): number {
  i32[0] = o < 0 ? -o | 0x80000000 : o;
  return f32[0]!;
}

const STEPS = [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 8, -8, 12, -12];

/**
 * A vector x with chromaView(x) === target bit for bit, or null if none was found near the target
 * (then the caller sends the target and counts a drifted vector). Per coordinate it collects the floats
 * near target[i] that map to target[i] for a candidate norm, then chooses among them so that the norm
 * Chroma will compute is exactly that candidate (a binary search over how many coordinates take the
 * larger choice, largest coordinates first).
 */
export function chromaPreimage(target: Float32Array): Float32Array | null {
  if (equal(chromaView(target), target)) return target;
  const n = target.length;
  const base = ordOf(chromaNorm(target));
  const lo = new Float32Array(n);
  const hi = new Float32Array(n);
  for (const dl of [0, -1, 1, -2, 2, -3, 3]) {
    const len = fromOrd(base + dl);
    const inv = inverse(len);
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const w = target[i]!;
      const o = ordOf(w);
      let small = Number.NaN;
      let large = Number.NaN;
      for (const k of STEPS) {
        const x = fromOrd(o + k);
        if (fr(fr(x * inv) * len) !== w) continue;
        if (Number.isNaN(small) || Math.abs(x) < Math.abs(small)) small = x;
        if (Number.isNaN(large) || Math.abs(x) > Math.abs(large)) large = x;
      }
      if (Number.isNaN(small)) ok = false;
      else {
        lo[i] = small;
        hi[i] = large;
      }
    }
    if (!ok) continue;
    const multi: number[] = [];
    for (let i = 0; i < n; i++) if (lo[i] !== hi[i]) multi.push(i);
    // largest coordinates first (the norm then moves in the biggest steps), then seeded shuffles: float
    // accumulation makes the norm a non-monotone step function of the choices
    const byMagnitude = [...multi].sort((a, b) => hi[b]! * hi[b]! - hi[a]! * hi[a]!);
    let seed = 0x9e3779b9;
    for (let attempt = 0; attempt < 24; attempt++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      const order = attempt === 0 ? byMagnitude : shuffle(byMagnitude, seed);
      const x = searchOrder(lo, hi, order, len, target);
      if (x) return x;
    }
  }
  return null;
}

function searchOrder(
  lo: Float32Array,
  hi: Float32Array,
  order: readonly number[],
  len: number,
  target: Float32Array,
): Float32Array | null {
  const build = (k: number): Float32Array => {
    const x = Float32Array.from(lo);
    for (let j = 0; j < k; j++) x[order[j]!] = hi[order[j]!]!;
    return x;
  };
  if (chromaNorm(build(0)) > len || chromaNorm(build(order.length)) < len) return null;
  let a = 0;
  let b = order.length;
  while (a < b) {
    const m = (a + b) >> 1;
    if (chromaNorm(build(m)) < len) a = m + 1;
    else b = m;
  }
  for (const k of [a, a - 1, a + 1, a - 2, a + 2, a - 3, a + 3]) {
    if (k < 0 || k > order.length) continue;
    const x = build(k);
    if (chromaNorm(x) === len && equal(viewWith(x, len), target)) return x;
  }
  return null;
}

/** A deterministic Fisher–Yates shuffle (xorshift32 from `seed`). */
function shuffle(items: readonly number[], seed: number): number[] {
  const out = [...items];
  let s = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
