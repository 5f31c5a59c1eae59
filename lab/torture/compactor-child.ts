/**
 * A compactor process for the torture campaign: runs one compaction of one collection (waiting for a
 * lease a dead compactor still holds), through a FaultyStore if asked, and prints its outcome as one
 * line `@@torture-result <json>` on stdout. The campaign kills it (SIGKILL), freezes it (SIGSTOP through
 * the `stop` failpoint action) and races several of them on one collection.
 */
import { readFile } from 'node:fs/promises';
import { serializeError } from '../../src/core/errors.js';
import type { Operation } from '../../src/core/types.js';
import { getCollection } from '../../src/pipeline/collections.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import type { StepExecutor } from '../../src/pipeline/executor.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { LocalPoolExecutor } from '../../src/runners/local/pool.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { openStore } from '../../src/store/open.js';
import { FaultyStore } from '../../src/testing/faulty-store.js';
import {
  type CompactorJob,
  type CompactorOutcome,
  type ProducerJob,
  RESULT_PREFIX,
} from './child-protocol.js';
import { compactWaitingForLease } from './compact-waiting.js';

function report(outcome: CompactorOutcome): void {
  process.stdout.write(`\n${RESULT_PREFIX}${JSON.stringify(outcome)}\n`);
}

async function ingest(job: ProducerJob): Promise<void> {
  const store = await openStore(job.store);
  try {
    const raw = JSON.parse(await readFile(job.opsFile, 'utf8')) as Array<
      Operation & { embedding?: number[] }
    >;
    const ops = raw.map((o) => (o.op === 'upsert' ? { ...o, embedding: Float32Array.from(o.embedding) } : o));
    const d = await acceptDelta(store, await getCollection(store, job.collection), ops as Operation[], {
      producer: 'torture-producer',
    });
    report({ ok: true, accepted: { seqStart: d.seqStart, seqEnd: d.seqEnd }, retries: 0 });
  } catch (e) {
    report({ ok: false, error: serializeError(e), retries: 0 });
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as CompactorJob | ProducerJob;
  if (job.mode === 'ingest') return ingest(job);
  const base = await openStore(job.store);
  const faulty = job.faults
    ? new FaultyStore(base, {
        seed: job.faults.seed,
        probabilities: job.faults.probabilities,
        slowMs: job.faults.slowMs,
        timeoutMs: job.faults.timeoutMs,
      })
    : undefined;
  const store: ObjectStore = faulty ?? base;
  let retries = 0;
  const executor: StepExecutor =
    job.executor === 'inline'
      ? new InlineExecutor(store, { retry: { attempts: 3, baseMs: 20, maxMs: 200 } })
      : new LocalPoolExecutor({
          storeSpec: job.store,
          concurrency: job.concurrency,
          threads: 1,
          retry: { attempts: 3, baseMs: 20, maxMs: 200 },
          stepTimeoutMs: 60_000,
          onRetry: () => {
            retries++;
          },
          ...(job.workerEnv ? { env: job.workerEnv } : {}),
        });
  let outcome: CompactorOutcome;
  const leases: NonNullable<CompactorOutcome['leases']> = [];
  try {
    const r = await compactWaitingForLease(
      store,
      job.collection,
      {
        executor,
        chunkSize: job.chunkSize,
        groupSize: job.groupSize,
        lease: {
          ttlMs: job.leaseTtlMs,
          owner: job.owner,
          onAcquired: (l) =>
            leases.push({ token: l.token, ...(l.takeover ? { takeover: { ...l.takeover } } : {}) }),
        },
      },
      job.leaseWaitMs,
    );
    outcome = {
      ok: true,
      report: {
        run: r.run,
        status: r.status,
        deltas: r.deltas,
        promoted: r.promoted,
        snapshot: r.snapshot,
        quarantined: r.quarantined.length,
      },
      retries,
    };
  } catch (e) {
    outcome = { ok: false, error: serializeError(e), retries };
  } finally {
    await executor.close();
  }
  if (faulty) outcome.faults = faulty.stats();
  outcome.leases = leases;
  await store.close();
  report(outcome);
}

main().catch((e) => {
  process.stderr.write(
    `torture compactor failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(70);
});
