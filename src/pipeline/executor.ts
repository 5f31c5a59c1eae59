import type { StepResult, StepTask } from './steps.js';

/**
 * What the pipeline needs from a runner: run one step to completion (retrying as the runner sees fit) or
 * throw a StrataError. Runners (runners/) implement it; the pipeline never knows processes or queues.
 */
export interface StepExecutor {
  readonly name: string;
  /** How many steps it runs at once (the tree submits everything; the executor queues). */
  readonly concurrency: number;
  run(task: StepTask): Promise<StepResult>;
  close(): Promise<void>;
}

/**
 * Makes an executor when one is needed, for code that runs compactions without knowing the runners (the
 * server's background compaction); the caller closes what it returns. runners/open.ts builds them.
 */
export type ExecutorFactory = () => Promise<StepExecutor> | StepExecutor;
