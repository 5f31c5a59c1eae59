import { ChromaClient } from 'chromadb';
const fr = Math.fround;
function denorm(v) { let s = 0; for (const x of v) s = fr(s + fr(x * x)); const len = fr(Math.sqrt(s)); const inv = fr(1 / fr(len + 1e-30)); return v.map(x => fr(fr(x * inv) * len)); }
const client = new ChromaClient({ host: '127.0.0.1', port: Number(process.argv[2]) });
for (const D of [8, 384, 1536]) {
  const col = await client.getOrCreateCollection({ name: `emul${D}x${Date.now()}`, embeddingFunction: null, metadata: { 'hnsw:space': 'cosine' } });
  const ids = [], embs = [];
  for (let i = 0; i < 300; i++) { const scale = [1, 0.001, 1000, 1/Math.sqrt(D)][i % 4]; ids.push(`v${i}`); embs.push(Array.from({ length: D }, () => fr((Math.random() * 2 - 1) * scale))); }
  await col.add({ ids, embeddings: embs });
  const g = await col.get({ ids, include: ['embeddings'] });
  let eqRaw = 0, eqEmu = 0;
  for (const [i, id] of g.ids.entries()) {
    const want = embs[Number(id.slice(1))]; const got = g.embeddings[i];
    if (got.every((x, j) => fr(x) === want[j])) eqRaw++;
    const e = denorm(want); if (got.every((x, j) => fr(x) === e[j])) eqEmu++;
  }
  console.log(D, { eqRaw, eqEmu, n: g.ids.length });
}
