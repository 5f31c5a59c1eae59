/** The serverless shape: handlers for AWS Lambda, the Step Functions definition, and a local interpreter. */
export * from './errors.js';
export type * from './events.js';
export { abort, chunk, final, group, handlers, plan, publish, type StepName } from './handlers.js';
export {
  type ExecutionResult,
  type InterpretOptions,
  runStateMachine,
  type TraceEntry,
} from './interpret.js';
export {
  type AslDefinition,
  buildStateMachine,
  functionArn,
  type StateMachineOptions,
} from './state-machine.js';

import { handlers, type StepName } from './handlers.js';
import type { ResourceHandler } from './interpret.js';
import { functionArn, type StateMachineOptions } from './state-machine.js';

/** The handlers keyed by the ARNs buildStateMachine(o) gives them (for runStateMachine). */
export function localResources(o: StateMachineOptions = {}): Record<string, ResourceHandler> {
  const out: Record<string, ResourceHandler> = {};
  for (const name of Object.keys(handlers) as StepName[]) {
    const fn = handlers[name] as (e: never) => Promise<unknown>;
    out[functionArn(name, o)] = (input) => fn(input as never);
  }
  return out;
}
