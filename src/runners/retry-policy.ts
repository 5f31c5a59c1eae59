import { ErrorCodes, type StrataError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';

/** How a runner retries a failed step: the bounds of core/retry.ts's loop. */
export interface RetryPolicy {
  /** Total attempts per step, the first included (default 3). */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseMs: 200, maxMs: 5_000 };

/**
 * Bad input and bad usage fail the same way every time, and a full disk stays full for the next attempt;
 * everything else may succeed on another attempt.
 */
export function isRetryableStepError(e: StrataError): boolean {
  if (e.name === 'InvalidInputError' || e.name === 'DeltaFormatError' || e.name === 'UsageError')
    return false;
  return (
    e.code !== ErrorCodes.COLLECTION_NOT_FOUND &&
    e.code !== ErrorCodes.USAGE &&
    e.code !== ErrorCodes.NO_SPACE
  );
}

/**
 * Runs a step's attempts under `policy`: retryable step errors are retried with jittered backoff, and the
 * error finally thrown carries `attempts` in its context. `attempt` throws StrataErrors.
 */
export function retryStep<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  onRetry?: (e: StrataError, n: number) => void,
): Promise<T> {
  return withRetry(attempt, {
    attempts: policy.attempts,
    baseMs: policy.baseMs,
    maxMs: policy.maxMs,
    retryable: (e) => isRetryableStepError(e as StrataError),
    ...(onRetry ? { onRetry: (e: unknown, n: number) => onRetry(e as StrataError, n) } : {}),
    giveUp: (e, n) => (e as StrataError).withContext({ attempts: n }),
  });
}
