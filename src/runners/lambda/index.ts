/** The serverless shape: handlers for AWS Lambda and the Step Functions definition that drives them. */
export * from './errors.js';
export type * from './events.js';
export {
  abort,
  chunk,
  final,
  group,
  handlers,
  merge,
  plan,
  planMerges,
  publish,
  publishMerges,
  type StepName,
} from './handlers.js';
export {
  type AslDefinition,
  buildStateMachine,
  functionArn,
  type StateMachineOptions,
} from './state-machine.js';
