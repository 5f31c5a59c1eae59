/**
 * What travels through Redis between a submitter (BullMQExecutor) and `strata worker` processes: a step
 * task (store keys and hashes, never data), the store it belongs to, and back a StepResult (keys again) or
 * an encoded StrataError. One place, so both sides agree.
 */
import {
  deserializeError,
  ErrorCodes,
  type SerializedError,
  StepError,
  type StrataError,
} from '../../core/errors.js';
import { stepName } from '../../pipeline/layout.js';
import type { StepTask } from '../../pipeline/steps.js';

export const PROTOCOL_VERSION = 1;
export const DEFAULT_QUEUE = 'strata-steps';

export interface StepJobData {
  v: typeof PROTOCOL_VERSION;
  /**
   * The url (ObjectStore.url) of the store the submitter compacts; a worker serving another store refuses
   * the job. A string under the wire name `store`: renaming it would change the protocol.
   */
  store: string;
  task: StepTask;
}

/** Job ids are readable and unique per submission (BullMQ custom ids must not contain ':'). */
export function jobIdOf(task: StepTask, nonce: string): string {
  return `${task.collection}.${task.run}.${stepName(task.kind, task.kind === 'final' ? 0 : task.index)}.${nonce}`;
}

const PREFIX = 'strata-error:';

/** A step error as BullMQ's failedReason (a string): the serialized StrataError behind a marker. */
export function encodeError(e: SerializedError): string {
  return `${PREFIX}${JSON.stringify(e)}`;
}

/** failedReason → StrataError. BullMQ's own reasons (stalled too often, lost lock) become coded errors too. */
export function decodeFailure(reason: string, ctx: Record<string, unknown>): StrataError {
  if (reason.startsWith(PREFIX)) {
    try {
      return deserializeError(JSON.parse(reason.slice(PREFIX.length)) as SerializedError).withContext(ctx);
    } catch {
      /* fall through: report the raw reason */
    }
  }
  if (/stalled/i.test(reason)) {
    return new StepError(
      ErrorCodes.WORKER_CRASHED,
      `the step's worker stopped responding too often: ${reason}`,
      ctx,
    );
  }
  return new StepError(ErrorCodes.STEP_FAILED, reason, ctx);
}
