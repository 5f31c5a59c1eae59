/** Runs the exported Step Functions definition locally, handler by handler, before anyone deploys it. */
export {
  type ExecutionResult,
  type InterpretOptions,
  type ResourceHandler,
  runStateMachine,
  type TraceEntry,
} from './interpret.js';
export { localResources } from './local-resources.js';
