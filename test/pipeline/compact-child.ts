/**
 * A compactor in its own process (run with `node --import tsx`), for the Ceph race test:
 *   compact-child <storeSpec> <collection>
 * Opens the store from the spec (credentials from the environment), prints READY, waits for a line on
 * stdin (so that both racers start together), runs one compaction with the InlineExecutor, prints one
 * JSON line:
 *   {"status": "...", "run": "...", "snapshot": {...}} or {"error": {"code": "...", "message": "..."}}
 */
import { once } from 'node:events';
import { serializeError } from '../../src/core/errors.js';
import { compact } from '../../src/pipeline/compact.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { openStore } from '../../src/store/open.js';

const [spec, collection] = process.argv.slice(2);
if (!spec || !collection) throw new Error('usage: compact-child <storeSpec> <collection>');

const store = await openStore(spec);
const executor = new InlineExecutor(store, { retry: { attempts: 1 } });
try {
  await store.head(`collections/${collection}/config.json`); // warm: connection up, SDK loaded
  process.stdout.write('READY\n');
  await once(process.stdin, 'data');
  process.stdin.pause();
  const r = await compact(store, collection, {
    executor,
    chunkSize: 2,
    groupSize: 2,
    lease: { ttlMs: 60_000 },
    merge: 'none',
  });
  process.stdout.write(`${JSON.stringify({ status: r.status, run: r.run, snapshot: r.snapshot })}\n`);
} catch (e) {
  const s = serializeError(e);
  process.stdout.write(`${JSON.stringify({ error: { code: s.code, message: s.message } })}\n`);
} finally {
  await executor.close();
  await store.close();
}
