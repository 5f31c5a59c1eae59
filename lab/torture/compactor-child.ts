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
import { gcCollection } from '../../src/pipeline/gc.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { LocalPoolExecutor } from '../../src/runners/local/pool.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import { openStore } from '../../src/store/open.js';
import { FaultyStore } from '../../src/testing/faulty-store.js';
import {
  type ChildEvent,
  type CompactorJob,
  type CompactorOutcome,
  EVENT_PREFIX,
  type GcJob,
  type ProducerJob,
  type ProducerManyJob,
  RESULT_PREFIX,
} from './child-protocol.js';
import { compactWaitingForLease } from './compact-waiting.js';

function report(outcome: CompactorOutcome): void {
  process.stdout.write(`\n${RESULT_PREFIX}${JSON.stringify(outcome)}\n`);
}

function event(e: ChildEvent): void {
  process.stdout.write(`\n${EVENT_PREFIX}${JSON.stringify(e)}\n`);
}

function decodeOps(raw: Array<Operation & { embedding?: number[] }>): Operation[] {
  return raw.map((o) =>
    o.op === 'upsert' ? { ...o, embedding: Float32Array.from(o.embedding) } : o,
  ) as Operation[];
}

async function ingestMany(job: ProducerManyJob): Promise<void> {
  const store = await openStore(job.store);
  try {
    const deltas = JSON.parse(await readFile(job.opsFile, 'utf8')) as Array<
      Array<Operation & { embedding?: number[] }>
    >;
    const config = await getCollection(store, job.collection);
    for (const [index, raw] of deltas.entries()) {
      event({ stage: 'ingest', phase: 'begin' });
      try {
        const d = await acceptDelta(store, config, decodeOps(raw), { producer: job.producer });
        event({ ack: { index, seqStart: d.seqStart, seqEnd: d.seqEnd } });
      } catch {
        // refused (its reservation tombstoned by a compaction that thought it abandoned): not acknowledged
      }
      event({ stage: 'ingest', phase: 'end' });
    }
    report({ ok: true, retries: 0 });
  } catch (e) {
    report({ ok: false, error: serializeError(e), retries: 0 });
  } finally {
    await store.close();
  }
}

async function gc(job: GcJob): Promise<void> {
  const store = await openStore(job.store);
  try {
    event({ stage: 'gc', phase: 'begin' });
    await gcCollection(store, job.collection, { graceMs: job.graceMs });
    event({ stage: 'gc', phase: 'end' });
    report({ ok: true, retries: 0 });
  } catch (e) {
    report({ ok: false, error: serializeError(e), retries: 0 });
  } finally {
    await store.close();
  }
}

/** Reports each step's begin and end (stage events) around the real executor. */
function traced(inner: StepExecutor): StepExecutor {
  return {
    name: inner.name,
    concurrency: inner.concurrency,
    async run(task) {
      event({ stage: task.kind, phase: 'begin' });
      try {
        return await inner.run(task);
      } finally {
        event({ stage: task.kind, phase: 'end' });
      }
    },
    close: () => inner.close(),
  };
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
  const job = JSON.parse(process.argv[2] ?? '') as CompactorJob | ProducerJob | ProducerManyJob | GcJob;
  if (job.mode === 'ingest') return ingest(job);
  if (job.mode === 'ingest-many') return ingestMany(job);
  if (job.mode === 'gc') return gc(job);
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
  const real: StepExecutor =
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
  const executor = job.trace ? traced(real) : real;
  if (job.trace) event({ stage: 'plan', phase: 'begin' });
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
        ...(job.inFlightMs !== undefined ? { inFlightMs: job.inFlightMs } : {}),
        ...(job.trace
          ? {
              onEvent: (e) => {
                // the final step done: the publish (the pointer swap) is next; then the run is finished
                if (e.type === 'step' && e.stage === 'final' && e.ok)
                  event({ stage: 'publish', phase: 'begin' });
                if (e.type === 'step' && e.stage === 'publish') event({ stage: 'publish', phase: 'end' });
              },
            }
          : {}),
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
