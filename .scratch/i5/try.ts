import { ChromaDirectory } from '../../src/interop/chroma/reader.js';
const dir = process.argv[2]!;
try {
  using c = ChromaDirectory.open(dir);
  for (const info of c.collections()) {
    const plan = c.plan(info);
    let n = 0;
    for (const b of c.records(plan, 1000)) n += b.length;
    console.log(info.name, info.space, info.dimension, plan.count, plan.fromIndex, plan.fromLog, plan.indexSeq, plan.metadataSeq, n);
  }
  c.assertUnchanged();
} catch (e) { console.log((e as {describe?: () => string}).describe?.() ?? e); }
