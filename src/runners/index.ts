/**
 * The runners: where compaction steps run — worker processes of this machine (local), this process
 * (inline), `strata worker` processes anywhere through Redis (bullmq), AWS Lambda driven by Step Functions
 * (lambda). Everything outside this folder enters through here.
 */
export { redactRedisUrl } from './bullmq/connection.js';
export { BullMQExecutor, type BullMQExecutorOptions } from './bullmq/executor.js';
export { DEFAULT_QUEUE } from './bullmq/protocol.js';
export { StepWorker, type StepWorkerOptions } from './bullmq/worker.js';
export { InlineExecutor } from './inline.js';
export {
  type AslDefinition,
  buildStateMachine,
  handlers as lambdaHandlers,
  type StateMachineOptions,
} from './lambda/index.js';
export { LocalPoolExecutor, type LocalPoolOptions } from './local/pool.js';
export { type OpenExecutorOptions, type OpenedExecutor, openExecutor, RUNNERS, type Runner } from './open.js';
