/** The Lambda handlers bound to the ARNs the state machine names, for running it locally with runStateMachine. */
import { handlers, type StepName } from '../../src/runners/lambda/handlers.js';
import { functionArn, type StateMachineOptions } from '../../src/runners/lambda/state-machine.js';
import type { ResourceHandler } from './interpret.js';

/** The handlers keyed by the ARNs buildStateMachine(o) gives them (for runStateMachine). */
export function localResources(o: StateMachineOptions = {}): Record<string, ResourceHandler> {
  const out: Record<string, ResourceHandler> = {};
  for (const name of Object.keys(handlers) as StepName[]) {
    const fn = handlers[name] as (e: never) => Promise<unknown>;
    out[functionArn(name, o)] = (input) => fn(input as never);
  }
  return out;
}
