import { encodeDelta, decodeDelta } from '../src/ingest/index.js';
import { StrataError } from '../src/core/errors.js';
import { appendFileSync, writeFileSync } from 'node:fs';
const dim = 4;
const ops = [
  { op: 'upsert' as const, id: 'a', embedding: new Float32Array([1,2,3,4]), document: 'hello', metadata: { x: [1,2], b: true } },
  { op: 'update' as const, id: 'é', metadata: { x: null } },
  { op: 'update' as const, id: 'é', document: null },
  { op: 'delete' as const, id: 'b' },
];
const { bytes } = encodeDelta({ collection: 'c1', dimension: dim, metric: 'cos', producer: 'p', seqStart: 10, createdAt: '2026-01-01T00:00:00Z' }, ops);
const ref = JSON.stringify(decodeDelta(bytes));
const counts: Record<string, number> = {};
writeFileSync('/tmp/exp/flip.log', '');
const start = Number(process.argv[2] ?? 0);
for (let pos = start; pos < bytes.length; pos++) for (const bit of [0, 3, 7]) {
  appendFileSync('/tmp/exp/flip.log', `${pos} ${bit}\n`);
  const b = bytes.slice(); b[pos] ^= 1 << bit;
  let k: string;
  try { const r = decodeDelta(b); k = JSON.stringify(r) === ref ? 'same' : 'DIFFERENT!'; if (k !== "same") console.log("diff at", pos, bit); else console.log("same", pos, bit); }
  catch (e) { k = e instanceof StrataError ? e.code : 'RAW'; if (!(e instanceof StrataError)) console.log(pos, bit, e); }
  counts[k] = (counts[k] ?? 0) + 1;
}
console.log(bytes.length, counts);
