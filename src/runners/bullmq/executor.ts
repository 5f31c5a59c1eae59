/**
 * The distributed runner: each step the pipeline asks for becomes one BullMQ job on Redis, run by any
 * `strata worker` process that serves the same store. The job carries the step task (store keys and
 * hashes) and the store URL, never data; the result coming back is a SegmentRef (keys again).
 *
 * Why job-per-step and not one BullMQ flow for the whole tree: compact() owns the tree. It starts a group
 * as soon as its own chunks are done, defers a failed group and everything after it, writes quarantine
 * markers, reads the base pointer right before the final merge and rebuilds only the final merge when the
 * pointer moved. A flow submitted up front would have to freeze the base and re-implement those rules in
 * the runner (runners must not know what a merge does). Submitting each step as its own job keeps one
 * implementation of the tree, and BullMQ still gives what a flow would: durable jobs, retries with backoff,
 * and stalled-job recovery (a worker killed mid-step loses its lock; another worker takes the job over).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Job, Queue, QueueEvents } from 'bullmq';
import { ClosedError, ErrorCodes, StepError, type StrataError } from '../../core/errors.js';
import type { StepExecutor } from '../../pipeline/executor.js';
import { type StepResult, type StepTask, stepContext } from '../../pipeline/steps.js';
import type { ObjectStore } from '../../store/index.js';
import { DEFAULT_RETRY, type RetryPolicy } from '../retry-policy.js';
import { redactRedisUrl, redisOptions } from './connection.js';
import { DEFAULT_QUEUE, decodeFailure, jobIdOf, PROTOCOL_VERSION, type StepJobData } from './protocol.js';
import { withinQueueTimeout } from './within.js';

export interface BullMQExecutorOptions {
  /** redis://host:port[/db] */
  redis: string;
  /**
   * The store the steps read and write (not owned): workers must serve the same store, which the jobs name
   * by its url.
   */
  store: ObjectStore;
  queue?: string;
  /** Attempts per step (BullMQ `attempts`); exponential backoff from `baseMs`, full jitter, no cap. */
  retry?: Partial<RetryPolicy>;
  /** How long to wait for one step, all attempts and stalls included (default 30 min). */
  stepTimeoutMs?: number;
  /** How long to wait for Redis to accept a submission before failing with E_QUEUE_UNAVAILABLE (default 10 s). */
  connectTimeoutMs?: number;
  /** Informational: how many steps the worker fleet runs at once. */
  concurrency?: number;
  /** A job of this executor was found stalled (its worker died or froze) and handed to another worker. */
  onStalled?: (task: StepTask) => void;
}

/** How long run() waits for a job's event before it asks Redis where the job is. */
const WATCH_MS = 2_000;

type Heard = { ok: true; value: unknown } | { ok: false; reason: string } | undefined;

/** The job's completed/failed event, or undefined after `ms`. */
function waitForEvent(events: QueueEvents, jobId: string, ms: number): Promise<Heard> {
  return new Promise((resolve) => {
    const done = (h: Heard) => {
      clearTimeout(timer);
      const emitter = events as unknown as NodeJS.EventEmitter;
      emitter.removeListener(`completed:${jobId}`, onCompleted);
      emitter.removeListener(`failed:${jobId}`, onFailed);
      resolve(h);
    };
    const onCompleted = (args: { returnvalue: unknown }) => {
      let v = args.returnvalue;
      if (typeof v === 'string') {
        try {
          v = JSON.parse(v);
        } catch {
          // a plain string result
        }
      }
      done({ ok: true, value: v });
    };
    const onFailed = (args: { failedReason: string }) => done({ ok: false, reason: args.failedReason });
    const timer = setTimeout(() => done(undefined), ms);
    // per-job events (`completed:<id>`), as Job.waitUntilFinished listens for them; not in the typed map
    const emitter = events as unknown as NodeJS.EventEmitter;
    emitter.on(`completed:${jobId}`, onCompleted);
    emitter.on(`failed:${jobId}`, onFailed);
  });
}

export class BullMQExecutor implements StepExecutor, AsyncDisposable {
  readonly name = 'bullmq';
  readonly concurrency: number;
  readonly queueName: string;
  #opts: BullMQExecutorOptions;
  #policy: RetryPolicy;
  #queue: Queue<StepJobData, StepResult>;
  #connection: ReturnType<typeof redisOptions> & { connectionName: string };
  /** Created once the queue connection works (a QueueEvents that never connected cannot be closed). */
  #events: Promise<QueueEvents> | undefined;
  /** Jobs submitted and not yet finished, by id. */
  #inflight = new Map<string, { job: Job<StepJobData, StepResult>; task: StepTask }>();
  #closed = false;
  #closing: Promise<void> | undefined;
  /** A marker this executor sets in Redis when it connects: gone later means Redis lost its data. */
  readonly #epoch = randomUUID();
  get #epochKey(): string {
    return `strata:${this.queueName}:epoch:${this.#epoch}`;
  }

  constructor(opts: BullMQExecutorOptions) {
    this.#opts = opts;
    this.#policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.queueName = opts.queue ?? DEFAULT_QUEUE;
    // Named, so an operator (and the conformance suite) can see the submitter's connections in CLIENT LIST.
    const connection = {
      ...redisOptions(opts.redis),
      connectionName: `strata-submit@${hostname()}:${process.pid}`,
    };
    this.#connection = connection;
    this.#queue = new Queue<StepJobData, StepResult>(this.queueName, { connection });
    // Connection trouble is reported through the waiting run() calls (timeouts), not as an unhandled event.
    this.#queue.on('error', () => {});
    // Every step being awaited holds one 'closing' listener on the queue (Job.waitUntilFinished): a run
    // with hundreds of chunks in flight is normal, not a leak.
    this.#queue.setMaxListeners(0);
  }

  /** The queue connection answers, then the event stream is opened (once). Bounded by connectTimeoutMs. */
  #connect(ctx: Record<string, unknown>): Promise<QueueEvents> {
    const ms = this.#opts.connectTimeoutMs ?? 10_000;
    this.#events ??= (async () => {
      await withinQueueTimeout(this.#queue.waitUntilReady(), ms, 'cannot reach the step queue', ctx);
      await withinQueueTimeout(
        this.#queue.getBackend().client.then((c) => c.set(this.#epochKey, this.#epoch, { EX: 7 * 86_400 })),
        ms,
        'cannot mark the step queue',
        ctx,
      );
      const events = new QueueEvents(this.queueName, { connection: this.#connection });
      events.on('error', () => {});
      events.on('stalled', ({ jobId }) => {
        const f = this.#inflight.get(jobId);
        if (f) this.#opts.onStalled?.(f.task);
      });
      await withinQueueTimeout(events.waitUntilReady(), ms, 'cannot open the step event stream', ctx);
      return events;
    })();
    return this.#events.catch((e) => {
      this.#events = undefined;
      throw e;
    });
  }

  async run(task: StepTask): Promise<StepResult> {
    if (this.#closed) throw new ClosedError('the BullMQ executor', stepContext(task));
    const ctx = { ...stepContext(task), queue: this.queueName, redis: redactRedisUrl(this.#opts.redis) };
    const timeoutMs = this.#opts.stepTimeoutMs ?? 30 * 60_000;
    const data: StepJobData = { v: PROTOCOL_VERSION, store: this.#opts.store.url, task };
    const jobId = jobIdOf(task, randomUUID().slice(0, 8));
    const events = await this.#connect(ctx);
    if (this.#closed) throw new ClosedError('the BullMQ executor', ctx);
    const connectMs = this.#opts.connectTimeoutMs ?? 10_000;
    const submit = (id: string) =>
      withinQueueTimeout(
        this.#queue.add(task.kind, data, {
          jobId: id,
          attempts: this.#policy.attempts,
          backoff: { type: 'exponential', delay: this.#policy.baseMs, jitter: 1 },
          removeOnComplete: { age: 3_600, count: 10_000 },
          removeOnFail: { age: 7 * 86_400 },
        }),
        connectMs,
        `could not submit the ${task.kind} step`,
        ctx,
      );
    let id = jobId;
    let job = await submit(id);
    const deadline = Date.now() + timeoutMs;
    let resubmitted = 0;
    this.#inflight.set(id, { job, task });
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new StepError(
            ErrorCodes.STEP_TIMEOUT,
            `${task.kind} step did not finish within ${timeoutMs} ms`,
            {
              ...ctx,
              job: id,
            },
          );
        }
        const heard = await waitForEvent(events, id, Math.min(WATCH_MS, left));
        if (this.#closed) throw new ClosedError('the BullMQ executor', { ...ctx, job: id });
        if (heard?.ok) return heard.value as StepResult;
        if (heard && !heard.ok) throw this.#failure(heard.reason, { ...ctx, job: id });
        // Nothing heard for a while: ask Redis where the job is. Events can be lost across a Redis restart,
        // and a restarted Redis may have lost the job (the last second of an appendfsync-everysec log) or
        // everything (no persistence). Bounded: a Redis that does not answer is E_QUEUE_UNAVAILABLE, never a hang.
        const state = await withinQueueTimeout(
          this.#queue.getJobState(id),
          connectMs,
          `lost touch with the step queue while waiting for the ${task.kind} step`,
          { ...ctx, job: id },
        );
        if (state === 'completed' || state === 'failed') {
          const j = await withinQueueTimeout(
            Job.fromId(this.#queue, id),
            connectMs,
            'cannot read the step job',
            ctx,
          );
          if (j && state === 'completed') return j.returnvalue as StepResult;
          if (j) throw this.#failure(j.failedReason, { ...ctx, job: id });
        }
        if (state !== 'unknown') continue;
        // The job is gone. If this queue's epoch marker is gone too, Redis lost its data (restarted without
        // persistence, flushed): fail now with a code. Otherwise only this job was lost: submit it again
        // (steps are deterministic and idempotent), a bounded number of times.
        const epochNow = await withinQueueTimeout(
          this.#queue.getBackend().client.then((c) => c.get(this.#epochKey)),
          connectMs,
          'cannot read the step queue epoch',
          ctx,
        );
        if (epochNow !== this.#epoch || resubmitted >= 3) {
          throw new StepError(
            ErrorCodes.QUEUE_LOST,
            epochNow !== this.#epoch
              ? `the step queue lost its data while the ${task.kind} step was queued (Redis restarted without persistence, or was flushed): run with a persistent Redis (appendonly yes, appendfsync everysec) and compact again`
              : `the ${task.kind} step's job vanished from the queue ${resubmitted + 1} times`,
            { ...ctx, job: id },
          );
        }
        resubmitted++;
        this.#inflight.delete(id);
        id = jobIdOf(task, randomUUID().slice(0, 8));
        job = await submit(id);
        this.#inflight.set(id, { job, task });
      }
    } finally {
      this.#inflight.delete(id);
    }
  }

  #failure(reason: string, ctx: Record<string, unknown>): StrataError {
    const err = decodeFailure(reason, ctx);
    return err.context.attempts === undefined ? err.withContext({ attempts: 1 }) : err;
  }

  /**
   * Withdraws the jobs of this executor that no worker has started, then closes the queue and event
   * connections. Jobs already running finish on their workers (their results are simply not awaited).
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      for (const { job } of this.#inflight.values()) {
        // Only waiting/delayed jobs can be removed; an active one is locked by its worker (that is fine).
        await job.remove().catch(() => undefined);
      }
      const events = await this.#events?.catch(() => undefined);
      await this.#queue.close();
      await events?.close();
    })();
    return this.#closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
