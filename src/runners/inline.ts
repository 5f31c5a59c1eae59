import { ClosedError, toStrataError } from '../core/errors.js';
import { Semaphore } from '../core/semaphore.js';
import type { StepExecutor } from '../pipeline/executor.js';
import { runStep, type StepResult, type StepTask, stepContext } from '../pipeline/steps.js';
import type { ObjectStore } from '../store/index.js';
import { DEFAULT_RETRY, type RetryPolicy, retryStep } from './retry-policy.js';
import { StepEnvCache } from './step-env.js';

/** Runs steps in this process, one at a time per call. For libraries, tests and tiny collections. */
export class InlineExecutor implements StepExecutor, AsyncDisposable {
  readonly name = 'inline';
  readonly concurrency = 1;
  #envs: StepEnvCache;
  #policy: RetryPolicy;
  #one = new Semaphore(1);
  #closed = false;
  /** `store` is the caller's: closing the executor does not close it. */
  constructor(store: ObjectStore, opts: { threads?: number; retry?: Partial<RetryPolicy> } = {}) {
    this.#envs = new StepEnvCache(store, opts.threads);
    this.#policy = { ...DEFAULT_RETRY, ...opts.retry };
  }
  async run(task: StepTask): Promise<StepResult> {
    if (this.#closed) throw new ClosedError('the inline executor', stepContext(task));
    return retryStep(this.#policy, () =>
      this.#one.with(async () => {
        try {
          return await runStep(await this.#envs.env(task.collection), task);
        } catch (e) {
          throw toStrataError(e);
        }
      }),
    );
  }
  /** Refuses new steps; resolves once the steps already submitted have finished. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#one.with(async () => {});
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
