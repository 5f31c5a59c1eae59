/**
 * The local runner: a pool of child processes. Each step runs in a worker process; a step whose process
 * crashes or times out is retried (bounded, with backoff) in a fresh process; a step that keeps failing
 * is reported with its coded error.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { deserializeError, ErrorCodes, StepError, type StrataError } from '../../core/errors.js';
import { Semaphore } from '../../core/semaphore.js';
import type { StepExecutor } from '../../pipeline/executor.js';
import { type StepResult, type StepTask, stepContext } from '../../pipeline/steps.js';
import { DEFAULT_RETRY, type RetryPolicy, retryStep } from '../retry-policy.js';
import type { ChildMessage, ParentMessage } from './protocol.js';

export interface LocalPoolOptions {
  /** The store the workers open, as openStore takes it (they must reach the same store). */
  storeSpec: string;
  /** Worker processes (default: number of cores). */
  concurrency?: number;
  /**
   * Threads each worker gives the index build (default: cores / concurrency, at least 1; final and merge
   * steps get all).
   */
  threads?: number;
  stepTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Extra environment for the workers (tests pass STRATA_FAILPOINTS this way). */
  env?: NodeJS.ProcessEnv;
  onRetry?: (task: StepTask, error: StrataError, attempt: number) => void;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
}

/**
 * Steps that run in a process of their own with every core: the final step, and merges — a merge builds
 * (or extends) the index of up to the whole collection, and usually runs alone.
 */
const ALL_CORES: ReadonlySet<StepTask['kind']> = new Set(['final', 'merge']);

const workerScript = (): { path: string; execArgv: string[] } => {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    return { path: here.replace(/pool\.ts$/, 'worker-main.ts'), execArgv: ['--import', 'tsx'] };
  }
  return { path: here.replace(/pool\.js$/, 'worker-main.js'), execArgv: [] };
};

export class LocalPoolExecutor implements StepExecutor {
  readonly name = 'local';
  readonly concurrency: number;
  #opts: LocalPoolOptions;
  #slots: Semaphore;
  #idle: Worker[] = [];
  #all = new Set<Worker>();
  #nextId = 1;
  #policy: RetryPolicy;
  #closed = false;

  constructor(opts: LocalPoolOptions) {
    this.#opts = opts;
    this.concurrency = Math.max(1, opts.concurrency ?? availableParallelism());
    this.#slots = new Semaphore(this.concurrency);
    this.#policy = { ...DEFAULT_RETRY, ...opts.retry };
  }

  /** PIDs of live workers (tests kill them). */
  get pids(): number[] {
    return [...this.#all].map((w) => w.child.pid!).filter(Boolean);
  }

  #spawn(kind: StepTask['kind']): Worker {
    const { path, execArgv } = workerScript();
    const cores = availableParallelism();
    const threads = ALL_CORES.has(kind)
      ? cores
      : (this.#opts.threads ?? Math.max(1, Math.floor(cores / this.concurrency)));
    const child = fork(path, [], {
      execArgv,
      env: {
        ...process.env,
        ...this.#opts.env,
        STRATA_WORKER_STORE: this.#opts.storeSpec,
        STRATA_WORKER_THREADS: String(threads),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    const w: Worker = {
      child,
      busy: false,
      ready: new Promise((resolve, reject) => {
        const onMsg = (m: ChildMessage) => {
          if (m.type === 'ready') {
            child.off('message', onMsg);
            child.off('exit', onExit);
            resolve();
          }
        };
        const onExit = (code: number | null, sig: string | null) =>
          reject(
            new StepError(
              ErrorCodes.WORKER_CRASHED,
              `worker exited during start-up (code ${code}, signal ${sig})`,
              {
                pid: child.pid,
              },
            ),
          );
        child.on('message', onMsg);
        child.once('exit', onExit);
      }),
    };
    // A send to a worker whose pipe just closed emits 'error' (EPIPE); the 'exit' handler reports the death.
    child.on('error', () => {});
    child.once('exit', () => {
      this.#all.delete(w);
      this.#idle = this.#idle.filter((x) => x !== w);
    });
    this.#all.add(w);
    return w;
  }

  async #runOnce(task: StepTask): Promise<StepResult> {
    // Final and merge steps use every core: each gets a process of its own (retired after the step).
    const w = !ALL_CORES.has(task.kind) && this.#idle.length > 0 ? this.#idle.pop()! : this.#spawn(task.kind);
    w.busy = true;
    await w.ready;
    const id = this.#nextId++;
    const ctx = { ...stepContext(task), pid: w.child.pid };
    const timeoutMs = this.#opts.stepTimeoutMs ?? 30 * 60_000;
    return new Promise<StepResult>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        w.child.off('message', onMsg);
        w.child.off('exit', onExit);
        w.busy = false;
      };
      const onMsg = (m: ChildMessage) => {
        if (m.type === 'result' && m.id === id) {
          cleanup();
          if (ALL_CORES.has(task.kind)) this.#send(w, { type: 'shutdown' });
          else this.#idle.push(w);
          resolve(m.result);
        } else if (m.type === 'error' && m.id === id) {
          cleanup();
          // A failed step may have left the process in any state: retire it.
          this.#send(w, { type: 'shutdown' });
          reject(deserializeError(m.error));
        }
      };
      const onExit = (code: number | null, sig: string | null) => {
        cleanup();
        reject(
          new StepError(
            ErrorCodes.WORKER_CRASHED,
            `worker process died during the ${task.kind} step (exit code ${code}, signal ${sig})`,
            ctx,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        w.child.kill('SIGKILL');
        reject(new StepError(ErrorCodes.STEP_TIMEOUT, `${task.kind} step exceeded ${timeoutMs} ms`, ctx));
      }, timeoutMs);
      w.child.on('message', onMsg);
      w.child.once('exit', onExit);
      this.#send(w, { type: 'task', id, task }, (e) => {
        cleanup();
        w.child.kill('SIGKILL');
        reject(
          new StepError(
            ErrorCodes.WORKER_CRASHED,
            `could not hand the ${task.kind} step to its worker: ${e.message}`,
            ctx,
          ),
        );
      });
    });
  }

  /** Sends to a worker; a worker that cannot be reached any more is killed (its 'exit' reports it). */
  #send(w: Worker, m: ParentMessage, onError?: (e: Error) => void): void {
    const fail = (e: Error) => {
      if (onError) onError(e);
      else w.child.kill('SIGKILL');
    };
    if (!w.child.connected) {
      fail(new Error('the worker disconnected'));
      return;
    }
    w.child.send(m, (e) => {
      if (e) fail(e);
    });
  }

  async run(task: StepTask): Promise<StepResult> {
    if (this.#closed) throw new StepError(ErrorCodes.CLOSED, 'the worker pool is closed', {});
    // The final merge uses every core itself; it does not share slots with chunk/group steps.
    const exec = () =>
      retryStep(
        this.#policy,
        () => this.#runOnce(task),
        (e, n) => this.#opts.onRetry?.(task, e, n),
      );
    return task.kind === 'final' ? exec() : this.#slots.with(exec);
  }

  /** Stops every worker and waits until each process has exited. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const exits = [...this.#all].map(
      (w) =>
        new Promise<void>((resolve) => {
          if (w.child.exitCode !== null || w.child.signalCode !== null) return resolve();
          w.child.once('exit', () => resolve());
          this.#send(w, { type: 'shutdown' });
        }),
    );
    await Promise.all(exits);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
