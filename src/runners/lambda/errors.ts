/**
 * How coded errors cross the Lambda boundary. A Node Lambda reports `errorType` = the thrown error's name,
 * and Step Functions matches Retry/Catch `ErrorEquals` against it. So the name is the StrataError code
 * (E_POINTER_CONFLICT, E_WORKER_CRASHED, …), or `Strata.Permanent` for errors no retry can fix; the
 * message carries the whole serialized error.
 */
import {
  ErrorCodes,
  type SerializedError,
  type StrataError,
  serializeError,
  toStrataError,
} from '../../core/errors.js';
import { isRetryableStepError } from '../retry-policy.js';

export const PERMANENT_ERROR = 'Strata.Permanent';

const NEVER_RETRY: ReadonlySet<string> = new Set([
  ErrorCodes.LEASE_HELD,
  ErrorCodes.LEASE_LOST,
  ErrorCodes.FENCED,
  ErrorCodes.NOTHING_TO_DO,
]);

export function isPermanent(e: StrataError): boolean {
  return !isRetryableStepError(e) || NEVER_RETRY.has(e.code) || e.context.retryable === false;
}

export class LambdaStepError extends Error {
  readonly error: SerializedError;
  constructor(e: StrataError) {
    const s = serializeError(e);
    super(JSON.stringify({ code: s.code, message: s.message, context: s.context }));
    this.name = isPermanent(e) ? PERMANENT_ERROR : e.code;
    this.error = s;
  }
}

/** Runs a handler body; anything it throws leaves as a LambdaStepError. */
export async function lambdaBoundary<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new LambdaStepError(toStrataError(e));
  }
}

/** A Step Functions Cause (the Lambda's {errorType, errorMessage} JSON) → the code and message inside. */
export function parseCause(error: string, cause: string | undefined): { code: string; message: string } {
  let text = cause ?? '';
  try {
    const outer = JSON.parse(text) as { errorMessage?: string };
    if (typeof outer.errorMessage === 'string') text = outer.errorMessage;
  } catch {
    /* not JSON: keep the raw cause */
  }
  try {
    const inner = JSON.parse(text) as { code?: string; message?: string };
    if (typeof inner.code === 'string') return { code: inner.code, message: inner.message ?? text };
  } catch {
    /* not one of ours */
  }
  return { code: error.startsWith('E_') ? error : ErrorCodes.STEP_FAILED, message: text || error };
}
