const fr = Math.fround;
const f32 = new Float32Array(1), i32 = new Int32Array(f32.buffer);
// ordered int mapping for floats
const toOrd = (x) => { f32[0] = x; const b = i32[0]; return b < 0 ? -(b & 0x7fffffff) : b; };
const fromOrd = (o) => { i32[0] = o < 0 ? (-o) | 0x80000000 : o; return f32[0]; };
const step = (x, k) => fromOrd(toOrd(x) + k);
function sum4(v) { const a = [0, 0, 0, 0]; let i = 0; for (; i + 4 <= v.length; i += 4) for (let l = 0; l < 4; l++) a[l] = fr(a[l] + fr(v[i + l] * v[i + l])); let s = fr(fr(a[0] + a[2]) + fr(a[1] + a[3])); for (; i < v.length; i++) s = fr(s + fr(v[i] * v[i])); return s; }
const lenOf = (v) => fr(Math.sqrt(sum4(v)));
const invOf = (L) => fr(1 / fr(L + 1e-30));
function denorm(v) { const len = lenOf(v); const inv = invOf(len); return v.map(x => fr(fr(x * inv) * len)); }
const eq = (a, b) => a.every((x, i) => x === b[i]);
function sets(W, L) { const inv = invOf(L); return W.map(w => { const s = []; for (let k = -12; k <= 12; k++) { const x = step(w, k); if (fr(fr(x * inv) * L) === w) s.push(x); } return s; }); }
const D = 384; let shown = 0;
for (let n = 0; n < 200 && shown < 5; n++) {
  const V = Array.from({ length: D }, () => fr(Math.random() * 2 - 1));
  const W = denorm(V); const L = lenOf(V);
  const S = sets(W, L);
  const missing = S.filter(s => s.length === 0).length;
  const vIn = V.every((v, i) => S[i].includes(v));
  const multi = S.filter(s => s.length > 1).length;
  const lw = lenOf(W);
  if (n < 5 || missing) { console.log({ n, missing, vIn, multi, dL: toOrd(lw) - toOrd(L), sizes: S.slice(0, 10).map(s => s.length) }); shown++; }
}

function solve(W) {
  if (eq(denorm(W), W)) return W;
  const L0 = lenOf(W);
  for (const dl of [0, -1, 1, -2, 2, -3, 3]) {
    const L = step(L0, dl);
    const S = sets(W, L);
    if (S.some(s => s.length === 0)) continue;
    const lo = S.map(s => s.reduce((a, b) => (Math.abs(b) < Math.abs(a) ? b : a)));
    const hi = S.map(s => s.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)));
    const order = S.map((s, i) => i).filter(i => lo[i] !== hi[i]).sort((a, b) => hi[b] * hi[b] - hi[a] * hi[a]);
    const build = (k) => { const X = lo.slice(); for (let j = 0; j < k; j++) X[order[j]] = hi[order[j]]; return X; };
    let a = 0, b = order.length;
    if (lenOf(build(a)) > L || lenOf(build(b)) < L) continue;
    while (a < b) { const m = (a + b) >> 1; const l = lenOf(build(m)); if (l < L) a = m + 1; else b = m; }
    for (const k of [a, a - 1, a + 1, a - 2, a + 2]) { if (k < 0 || k > order.length) continue; const X = build(k); if (lenOf(X) === L && eq(denorm(X), W)) return X; }
  }
  return null;
}
for (const D of [3, 8, 384, 1536]) {
  let fail = 0; const N = 2000; const t0 = performance.now();
  for (let n = 0; n < N; n++) {
    const scale = [1, 1e-3, 1e3, 1 / Math.sqrt(D), 1e-20, 1e15][n % 6];
    const V = Array.from({ length: D }, () => fr((Math.random() * 2 - 1) * scale));
    const W = denorm(V); if (!solve(W)) fail++;
  }
  console.log(D, { fail, ms: (performance.now() - t0) / N });
}
