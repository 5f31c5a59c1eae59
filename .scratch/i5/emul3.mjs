import { ChromaClient } from 'chromadb';
const fr = Math.fround;
function lanes(v, L, fma, hz) {
  const a = new Array(L).fill(0); let i = 0;
  for (; i + L <= v.length; i += L) for (let l = 0; l < L; l++) { const x = v[i + l]; a[l] = fma ? fr(a[l] + x * x) : fr(a[l] + fr(x * x)); }
  let s = hz(a);
  for (; i < v.length; i++) s = fma ? fr(s + v[i] * v[i]) : fr(s + fr(v[i] * v[i]));
  return s;
}
const hz = {
  seq: (a) => a.reduce((s, x) => fr(s + x), 0),
  pair: (a) => { let b = a; while (b.length > 1) { const h = b.length / 2; b = b.slice(0, h).map((x, l) => fr(x + b[l + h])); } return b[0]; },
  adj: (a) => { let b = a; while (b.length > 1) { const n = []; for (let l = 0; l < b.length; l += 2) n.push(fr(b[l] + b[l + 1])); b = n; } return b[0]; },
};
const fin = (v, s) => { const len = fr(Math.sqrt(s)); const inv = fr(1 / fr(len + 1e-30)); return v.map(x => fr(fr(x * inv) * len)); };
const client = new ChromaClient({ host: '127.0.0.1', port: Number(process.argv[2]) });
for (const D of [8, 384, 1536]) {
  const col = await client.getOrCreateCollection({ name: `emulc${D}x${Date.now()}`, embeddingFunction: null, metadata: { 'hnsw:space': 'cosine' } });
  const ids = [], embs = [];
  for (let i = 0; i < 200; i++) { ids.push(`v${i}`); embs.push(Array.from({ length: D }, () => fr((Math.random() * 2 - 1)))); }
  await col.add({ ids, embeddings: embs });
  const g = await col.get({ ids, include: ['embeddings'] });
  const res = {};
  for (const L of [4, 8, 16]) for (const fma of [false, true]) for (const [hn, hf] of Object.entries(hz)) {
    let ok = 0;
    for (const [i, id] of g.ids.entries()) { const want = embs[Number(id.slice(1))]; const e = fin(want, lanes(want, L, fma, hf)); if (g.embeddings[i].every((x, j) => fr(x) === e[j])) ok++; }
    res[`${L}/${fma ? 'fma' : 'mul'}/${hn}`] = ok;
  }
  console.log(D, JSON.stringify(res));
}
