import { ChromaClient } from 'chromadb';
const fr = Math.fround;
function sum4(v, tailMode) {
  const a = [0, 0, 0, 0]; let i = 0;
  for (; i + 4 <= v.length; i += 4) for (let l = 0; l < 4; l++) a[l] = fr(a[l] + fr(v[i + l] * v[i + l]));
  if (tailMode === 'lanes') { for (let l = 0; i + l < v.length; l++) a[l] = fr(a[l] + fr(v[i + l] * v[i + l])); i = v.length; }
  let s;
  if (tailMode === 'pre') { let t = 0; for (let j = i; j < v.length; j++) t = fr(t + fr(v[j] * v[j])); s = fr(fr(fr(a[0] + a[2]) + fr(a[1] + a[3])) + t); i = v.length; }
  else s = fr(fr(a[0] + a[2]) + fr(a[1] + a[3]));
  for (; i < v.length; i++) s = fr(s + fr(v[i] * v[i]));
  return s;
}
const fin = (v, s) => { const len = fr(Math.sqrt(s)); const inv = fr(1 / fr(len + 1e-30)); return v.map(x => fr(fr(x * inv) * len)); };
const client = new ChromaClient({ host: '127.0.0.1', port: Number(process.argv[2]) });
for (const D of [1, 2, 3, 5, 7, 10, 13, 31, 385]) {
  const col = await client.getOrCreateCollection({ name: `emuld${D}x${Date.now()}`, embeddingFunction: null, metadata: { 'hnsw:space': 'cosine' } });
  const ids = [], embs = [];
  for (let i = 0; i < 200; i++) { ids.push(`v${i}`); embs.push(Array.from({ length: D }, () => fr((Math.random() * 2 - 1)))); }
  await col.add({ ids, embeddings: embs });
  const g = await col.get({ ids, include: ['embeddings'] });
  const res = {};
  for (const tm of ['seq', 'lanes', 'pre']) {
    let ok = 0;
    for (const [i, id] of g.ids.entries()) { const want = embs[Number(id.slice(1))]; const e = fin(want, sum4(want, tm)); if (g.embeddings[i].every((x, j) => fr(x) === e[j])) ok++; }
    res[tm] = ok;
  }
  console.log(D, JSON.stringify(res));
}
