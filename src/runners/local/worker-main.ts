/**
 * A worker process of the local pool: opens the store named by STRATA_WORKER_STORE, runs the steps the
 * parent sends, one at a time. If it dies, its handles die with it (docs/architecture.md, "Closed means
 * closed").
 */
import { serializeError } from '../../core/errors.js';
import { runStep } from '../../pipeline/steps.js';
import { openStore } from '../../store/index.js';
import { StepEnvCache } from '../step-env.js';
import type { ChildMessage, ParentMessage } from './protocol.js';

/** Sends to the parent while it is there; a parent that died takes this worker with it ('disconnect'). */
const send = (m: ChildMessage) => {
  if (process.connected) process.send?.(m, undefined, {}, () => {});
};

async function main(): Promise<void> {
  const spec = process.env.STRATA_WORKER_STORE;
  if (!spec) throw new Error('STRATA_WORKER_STORE is not set');
  const threads = process.env.STRATA_WORKER_THREADS ? Number(process.env.STRATA_WORKER_THREADS) : undefined;
  const store = await openStore(spec);
  const envs = new StepEnvCache(store, threads);
  let busy: Promise<void> = Promise.resolve();
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'shutdown') {
      busy.finally(() => store.close()).finally(() => process.exit(0));
      return;
    }
    busy = busy.then(async () => {
      try {
        const result = await runStep(await envs.env(m.task.collection), m.task);
        send({ type: 'result', id: m.id, result });
      } catch (e) {
        send({ type: 'error', id: m.id, error: serializeError(e) });
      }
    });
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', pid: process.pid });
}

main().catch((e) => {
  process.stderr.write(`strata worker failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(70);
});
