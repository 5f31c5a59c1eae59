/**
 * A step worker: takes step jobs from the queue and runs them against its store. Any number of them, on
 * any machines, may serve one queue. If one dies (SIGKILL, OOM, a pulled plug), its job's lock expires and
 * another worker's stalled-job check hands the job over; steps are idempotent (docs/architecture.md, "Steps
 * are pure and idempotent"), so running one twice is harmless.
 *
 * The step itself runs in a child process of the local pool (the same code the local runner uses), never
 * on this process's event loop: merges and index builds are long synchronous native calls, and a blocked
 * event loop cannot renew the job's lock — BullMQ would declare a healthy worker dead after lockDuration
 * and hand its job to another one. Here the lock keeps being renewed while the child works, so a short
 * lockDuration (fast takeover after a real crash) is safe.
 */
import { availableParallelism, hostname } from 'node:os';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import { serializeError, toStrataError, UsageError } from '../../core/errors.js';
import { failpoint } from '../../core/failpoints.js';
import type { StepResult } from '../../pipeline/steps.js';
import type { ObjectStore } from '../../store/index.js';
import { LocalPoolExecutor } from '../local/pool.js';
import { isRetryableStepError } from '../retry-policy.js';
import { redactRedisUrl, redisOptions } from './connection.js';
import { DEFAULT_QUEUE, encodeError, PROTOCOL_VERSION, type StepJobData } from './protocol.js';
import { withinQueueTimeout } from './within.js';

export interface StepWorkerOptions {
  redis: string;
  /** The store this worker serves (its url identifies it to submitters); not owned: the caller closes it. */
  store: ObjectStore;
  /** How the step processes open that same store (a path or URL, as given to openStore). */
  storeSpec: string;
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
  /** A step process that runs longer than this is killed and the attempt fails (default 30 min). */
  stepTimeoutMs?: number;
  onJob?: (e: { type: 'active' | 'completed' | 'failed'; job: string; kind: string; error?: string }) => void;
}

export class StepWorker implements AsyncDisposable {
  readonly name: string;
  #worker: Worker<StepJobData, StepResult>;
  #pool: LocalPoolExecutor;
  #store: ObjectStore;
  #closing: Promise<void> | undefined;

  private constructor(opts: StepWorkerOptions) {
    const concurrency = Math.max(1, opts.concurrency ?? 1);
    const threads = opts.threads ?? Math.max(1, Math.floor(availableParallelism() / concurrency));
    this.name = `strata-worker@${hostname()}:${process.pid}`;
    this.#store = opts.store;
    // One attempt per job here: BullMQ owns the retries (attempts, backoff, stalled recovery).
    this.#pool = new LocalPoolExecutor({
      storeSpec: opts.storeSpec,
      concurrency,
      threads,
      retry: { attempts: 1 },
      ...(opts.stepTimeoutMs ? { stepTimeoutMs: opts.stepTimeoutMs } : {}),
    });
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
      await w.#pool.close();
      throw toStrataError(e);
    }
    w.#worker.run().catch(() => undefined);
    return w;
  }

  async #process(job: Job<StepJobData, StepResult>): Promise<StepResult> {
    const attempt = job.attemptsMade + 1;
    try {
      const { v, store: storeUrl, task } = job.data;
      if (v !== PROTOCOL_VERSION) {
        throw new UsageError(`job speaks step protocol ${v}, this worker speaks ${PROTOCOL_VERSION}`, {
          job: job.id,
        });
      }
      if (storeUrl !== this.#store.url) {
        throw new UsageError(`job is for store ${storeUrl}, this worker serves ${this.#store.url}`, {
          job: job.id,
        });
      }
      // A test hook at the job's start, in this process (the step's own failpoints fire in its child).
      failpoint(`step.${task.kind}`);
      return await this.#pool.run(task);
    } catch (e) {
      const err = toStrataError(e).withContext({ attempts: attempt, worker: this.name });
      const reason = encodeError(serializeError(err));
      // Bad input and bad usage fail the same way on every attempt: do not spend the retries.
      throw isRetryableStepError(err) ? new Error(reason) : new UnrecoverableError(reason);
    }
  }

  /** Stops taking jobs, lets running steps finish, closes the Redis connections and the step processes. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await this.#worker.close();
      } finally {
        await this.#pool.close();
      }
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
