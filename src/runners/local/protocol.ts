import type { SerializedError } from '../../core/errors.js';
import type { StepResult, StepTask } from '../../pipeline/steps.js';

export type ParentMessage = { type: 'task'; id: number; task: StepTask } | { type: 'shutdown' };
export type ChildMessage =
  | { type: 'ready'; pid: number }
  | { type: 'result'; id: number; result: StepResult }
  | { type: 'error'; id: number; error: SerializedError };
