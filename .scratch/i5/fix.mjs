const fr = Math.fround;
function sum4(v) { const a = [0, 0, 0, 0]; let i = 0; for (; i + 4 <= v.length; i += 4) for (let l = 0; l < 4; l++) a[l] = fr(a[l] + fr(v[i + l] * v[i + l])); let s = fr(fr(a[0] + a[2]) + fr(a[1] + a[3])); for (; i < v.length; i++) s = fr(s + fr(v[i] * v[i])); return s; }
function denorm(v) { const len = fr(Math.sqrt(sum4(v))); const inv = fr(1 / fr(len + 1e-30)); return v.map(x => fr(fr(x * inv) * len)); }
const eq = (a, b) => a.every((x, i) => x === b[i]);
for (const D of [8, 384, 1536]) {
  const hist = {}; const N = 1000;
  for (let t = 0; t < N; t++) {
    const V = Array.from({ length: D }, () => fr(Math.random() * 2 - 1));
    const W = denorm(V);
    let X = W.slice(); let k = 0;
    for (; k < 20; k++) { const Y = denorm(X); if (eq(Y, W)) break; X = X.map((x, i) => fr(x + (W[i] - Y[i]))); }
    hist[k] = (hist[k] ?? 0) + 1;
  }
  console.log(D, JSON.stringify(hist));
}
