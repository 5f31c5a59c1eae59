const fr = Math.fround;
function f(v) { let s = 0; for (const x of v) s = fr(s + fr(x * x)); const len = fr(Math.sqrt(s)); const inv = fr(1 / fr(len + 1e-30)); return { n: v.map(x => fr(x * inv)), len }; }
function d(v) { const { n, len } = f(v); return n.map(x => fr(x * len)); }
let neq = 0, nidem = 0, idem2=0; const N = 2000, D = 384;
for (let t = 0; t < N; t++) {
  const v = Array.from({ length: D }, () => fr(Math.random() * 2 - 1));
  const a = d(v), b = d(a), c = d(b);
  if (a.some((x, i) => x !== v[i])) neq++;
  if (b.some((x, i) => x !== a[i])) nidem++;
  if (c.some((x, i) => x !== b[i])) idem2++;
}
console.log({ neq, nidem, idem2, N });
