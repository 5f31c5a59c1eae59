import { ChromaClient } from 'chromadb';
const client = new ChromaClient({ host: '127.0.0.1', port: Number(process.argv[2]) });
const col = await client.getCollection({ name: process.argv[3], embeddingFunction: null });
const g = await col.get({ ids: process.argv.slice(4), include: ['embeddings'] });
for (const [i, id] of g.ids.entries()) console.log(id, JSON.stringify(g.embeddings[i]));
