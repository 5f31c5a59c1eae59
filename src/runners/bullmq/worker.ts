/**
 * A step worker: takes step jobs from the queue and runs them against its store with the same runStep
 * every runner uses. Any number of them, on any machines, may serve one queue. If one dies (SIGKILL, OOM,
 * a pulled plug), its job's lock expires and another worker's stalled-job check hands the job over; steps
 * are idempotent (DESIGN.md invariant 4), so running one twice is harmless.
 */
import { availableParallelism, hostname } from 'node:os';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { serializeError, toStrataError, UsageError } from '../../core/errors.js';
import { runStep, type StepResult } from '../../pipeline/steps.js';
import type { ObjectStore } from '../../store/object-store.js';
import { isRetryableStepError } from '../retry-policy.js';
import { StepEnvCache } from '../step-env.js';
import { redactRedisUrl, redisOptions } from './connection.js';
import { DEFAULT_QUEUE, encodeError, PROTOCOL_VERSION, type StepJobData } from './protocol.js';
import { withinQueueTimeout } from './within.js';

export interface StepWorkerOptions {
  redis: string;
  /** The store this worker serves; the worker does not own it (the caller closes it after close()). */
  store: ObjectStore;
  queue?: string;
  /** Steps run at once in this process (default 1). */
  concurrency?: number;
  /** Index-build threads per step (default: cores / concurrency). */
  threads?: number;
  /** How long a job's lock lives without renewal (default 30 s); a dead worker's job is recovered after it. */
  lockDurationMs?: number;
  /** How often this worker looks for stalled jobs (default 30 s). */
  stalledIntervalMs?: number;
  /** How long start() waits for Redis before failing with E_QUEUE_UNAVAILABLE (default 10 s). */
  connectTimeoutMs?: number;
  /** How often one job may stall before it fails (default 2). */
  maxStalledCount?: number;
  onJob?: (e: { type: 'active' | 'completed' | 'failed'; job: string; kind: string; error?: string }) => void;
}

export class StepWorker implements AsyncDisposable {
  readonly name: string;
  #worker: Worker<StepJobData, StepResult>;
  #envs: StepEnvCache;
  #store: ObjectStore;
  #closing: Promise<void> | undefined;

  private constructor(opts: StepWorkerOptions) {
    const concurrency = Math.max(1, opts.concurrency ?? 1);
    const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / concurrency));
    this.name = `strata-worker@${hostname()}:${process.pid}`;
    this.#store = opts.store;
    this.#envs = new StepEnvCache(opts.store, threads, this.name);
    this.#worker = new Worker<StepJobData, StepResult>(
      opts.queue ?? DEFAULT_QUEUE,
      (job) => this.#process(job),
      {
        connection: redisOptions(opts.redis),
        concurrency,
        name: this.name,
        autorun: false,
        lockDuration: opts.lockDurationMs ?? 30_000,
        stalledInterval: opts.stalledIntervalMs ?? 30_000,
        maxStalledCount: opts.maxStalledCount ?? 2,
      },
    );
    const onJob = opts.onJob;
    this.#worker.on('error', () => {
      /* connection trouble: ioredis reconnects; jobs are recovered by the stalled check */
    });
    if (onJob) {
      this.#worker.on('active', (j) => onJob({ type: 'active', job: j.id ?? '', kind: j.name }));
      this.#worker.on('completed', (j) => onJob({ type: 'completed', job: j.id ?? '', kind: j.name }));
      this.#worker.on('failed', (j, e) =>
        onJob({ type: 'failed', job: j?.id ?? '', kind: j?.name ?? '', error: e.message }),
      );
    }
  }

  /** Connects and starts taking jobs; resolves once the worker is connected to Redis. */
  static async start(opts: StepWorkerOptions): Promise<StepWorker> {
    const w = new StepWorker(opts);
    const queue = opts.queue ?? DEFAULT_QUEUE;
    try {
      await withinQueueTimeout(
        w.#worker.waitUntilReady(),
        opts.connectTimeoutMs ?? 10_000,
        'the worker cannot start',
        {
          queue,
          redis: redactRedisUrl(opts.redis),
        },
      );
    } catch (e) {
      await w.#worker.close(true).catch(() => undefined);
      throw toStrataError(e);
    }
    w.#worker.run().catch(() => undefined);
    return w;
  }

  async #process(job: Job<StepJobData, StepResult>): Promise<StepResult> {
    const attempt = job.attemptsMade + 1;
    try {
      const { v, store, task } = job.data;
      if (v !== PROTOCOL_VERSION) {
        throw new UsageError(`job speaks step protocol ${v}, this worker speaks ${PROTOCOL_VERSION}`, {
          job: job.id,
        });
      }
      if (store !== this.#store.url) {
        throw new UsageError(`job is for store ${store}, this worker serves ${this.#store.url}`, {
          job: job.id,
        });
      }
      return await runStep(await this.#envs.env(task.collection), task);
    } catch (e) {
      const err = toStrataError(e).withContext({ attempts: attempt, worker: this.name });
      const reason = encodeError(serializeError(err));
      // Bad input and bad usage fail the same way on every attempt: do not spend the retries.
      throw isRetryableStepError(err) ? new Error(reason) : new UnrecoverableError(reason);
    }
  }

  /** Stops taking jobs, lets running steps finish, and closes the Redis connections. */
  close(): Promise<void> {
    this.#closing ??= this.#worker.close();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
