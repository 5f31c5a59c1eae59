import { ChromaClient } from 'chromadb';
const port = process.argv[2]; const n = Number(process.argv[3]); const name = process.argv[4] ?? 'c';
const client = new ChromaClient({ host: '127.0.0.1', port: Number(port) });
const col = await client.getOrCreateCollection({ name, embeddingFunction: null, metadata: { 'hnsw:space': 'cosine', note: 'x' } });
const ids = [], embs = [], docs = [], metas = [];
for (let i = 0; i < n; i++) { ids.push(`id${i}`); embs.push(Array.from({length: 8}, (_, j) => Math.fround(Math.sin(i * 7 + j)))); docs.push(`doc ${i}`); metas.push({ i, even: i % 2 === 0, tag: `t${i % 5}`, f: i / 3 }); }
for (let s = 0; s < n; s += 500) await col.add({ ids: ids.slice(s, s + 500), embeddings: embs.slice(s, s + 500), documents: docs.slice(s, s+500), metadatas: metas.slice(s, s+500) });
await col.delete({ ids: ['id1', 'id2'] });
await col.update({ ids: ['id3'], metadatas: [{ changed: true }], });
await col.upsert({ ids: ['id4'], embeddings: [[1,2,3,4,5,6,7,8]], metadatas: [{ up: 1 }] });
console.log(await col.count());
const g = await col.get({ ids: ['id3', 'id4', 'id5'], include: ['embeddings', 'metadatas', 'documents'] });
console.log(JSON.stringify(g));
