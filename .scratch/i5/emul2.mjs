import { ChromaClient } from 'chromadb';
const fr = Math.fround;
const sums = {
  seq: (v) => { let s = 0; for (const x of v) s = fr(s + fr(x * x)); return s; },
  dbl: (v) => { let s = 0; for (const x of v) s += x * x; return fr(s); },
  lanes4: (v) => lanes(v, 4), lanes8: (v) => lanes(v, 8), lanes16: (v) => lanes(v, 16),
  lanes4x2: (v) => lanes(v, 4, 2), lanes8x2: (v) => lanes(v, 8, 2),lanes8x4: (v) => lanes(v, 8, 4), lanes4x4: (v) => lanes(v, 4, 4),
};
function lanes(v, L, U = 1) { // U accumulators of L lanes, then horizontal
  const acc = Array.from({ length: U }, () => new Array(L).fill(0)); const step = L * U; let i = 0;
  for (; i + step <= v.length; i += step) for (let u = 0; u < U; u++) for (let l = 0; l < L; l++) { const x = v[i + u * L + l]; acc[u][l] = fr(acc[u][l] + fr(x * x)); }
  let a = acc[0]; for (let u = 1; u < U; u++) a = a.map((x, l) => fr(x + acc[u][l]));
  // horizontal: try sequential
  let s = 0; for (const x of a) s = fr(s + x);
  for (; i < v.length; i++) s = fr(s + fr(v[i] * v[i]));
  return s;
}
const finals = {
  mulinv: (v, s) => { const len = fr(Math.sqrt(s)); const inv = fr(1 / fr(len + 1e-30)); return v.map(x => fr(fr(x * inv) * len)); },
  div: (v, s) => { const len = fr(Math.sqrt(s)); return v.map(x => fr(fr(x / len) * len)); },
};
const client = new ChromaClient({ host: '127.0.0.1', port: Number(process.argv[2]) });
for (const D of [8, 384, 1536]) {
  const col = await client.getOrCreateCollection({ name: `emulb${D}x${Date.now()}`, embeddingFunction: null, metadata: { 'hnsw:space': 'cosine' } });
  const ids = [], embs = [];
  for (let i = 0; i < 200; i++) { ids.push(`v${i}`); embs.push(Array.from({ length: D }, () => fr((Math.random() * 2 - 1)))); }
  await col.add({ ids, embeddings: embs });
  const g = await col.get({ ids, include: ['embeddings'] });
  const res = {};
  for (const [sn, sf] of Object.entries(sums)) for (const [fn, ff] of Object.entries(finals)) {
    let ok = 0;
    for (const [i, id] of g.ids.entries()) { const want = embs[Number(id.slice(1))]; const e = ff(want, sf(want)); if (g.embeddings[i].every((x, j) => fr(x) === e[j])) ok++; }
    res[`${sn}/${fn}`] = ok;
  }
  console.log(D, JSON.stringify(res));
}
