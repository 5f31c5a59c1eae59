const fr = Math.fround;
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
function step(x, k) { // move k ulps (k may be negative) in float order
  f32[0] = x; let b = u32[0]; if (x === 0) { if (k === 0) return x; f32[0] = 0; u32[0] = Math.abs(k); return k > 0 ? f32[0] : -f32[0]; }
  const neg = b >>> 31; let m = b & 0x7fffffff; m += neg ? -k : k; if (m < 0) { u32[0] = (-m) | 0; return neg ? f32[0] : -f32[0]; } u32[0] = (m | (neg << 31)) >>> 0; return f32[0];
}
function sum4(v) { const a = [0, 0, 0, 0]; let i = 0; for (; i + 4 <= v.length; i += 4) for (let l = 0; l < 4; l++) a[l] = fr(a[l] + fr(v[i + l] * v[i + l])); let s = fr(fr(a[0] + a[2]) + fr(a[1] + a[3])); for (; i < v.length; i++) s = fr(s + fr(v[i] * v[i])); return s; }
const lenOf = (v) => fr(Math.sqrt(sum4(v)));
function denorm(v) { const len = lenOf(v); const inv = fr(1 / fr(len + 1e-30)); return v.map(x => fr(fr(x * inv) * len)); }
const eq = (a, b) => a.every((x, i) => x === b[i]);
function solve(W) {
  if (eq(denorm(W), W)) return { X: W, tries: 0 };
  let tries = 0;
  const L0 = lenOf(W);
  for (const dl of [0, 1, -1, 2, -2, 3, -3]) {
    let L = step(L0, dl);
    for (let it = 0; it < 4; it++) {
      tries++;
      const inv = fr(1 / fr(L + 1e-30));
      const X = new Array(W.length); let ok = true;
      for (let i = 0; i < W.length && ok; i++) {
        let found = false;
        for (const k of [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 8, -8]) { const x = step(W[i], k); if (fr(fr(x * inv) * L) === W[i]) { X[i] = x; found = true; break; } }
        ok = found;
      }
      if (!ok) break;
      const L2 = lenOf(X);
      if (L2 === L) { if (eq(denorm(X), W)) return { X, tries }; break; }
      L = L2;
    }
  }
  return null;
}
for (const D of [8, 384, 1536]) {
  let fail = 0, t = 0; const N = 1000; const hist = {};
  const t0 = performance.now();
  for (let n = 0; n < N; n++) {
    const scale = [1, 1e-3, 1e3, 1 / Math.sqrt(D)][n % 4];
    const V = Array.from({ length: D }, () => fr((Math.random() * 2 - 1) * scale));
    const W = denorm(V); const r = solve(W);
    if (!r) fail++; else hist[r.tries] = (hist[r.tries] ?? 0) + 1;
  }
  console.log(D, { fail, hist, ms: (performance.now() - t0) / N });
}
