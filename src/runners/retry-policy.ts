import { ErrorCodes, type StrataError } from '../core/errors.js';
import { backoffDelay, delay } from '../core/retry.js';

export interface RetryPolicy {
  /** Total attempts per step, the first included (default 3). */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, baseMs: 200, maxMs: 5_000 };

/** Bad input and bad usage fail the same way every time; everything else may succeed on another attempt. */
export function isRetryableStepError(e: StrataError): boolean {
  if (e.name === 'InvalidInputError' || e.name === 'DeltaFormatError' || e.name === 'UsageError')
    return false;
  return e.code !== ErrorCodes.COLLECTION_NOT_FOUND && e.code !== ErrorCodes.USAGE;
}

export async function retryStep<T>(
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  onRetry?: (e: StrataError, n: number) => void,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      const err = e as StrataError;
      if (n >= policy.attempts || !isRetryableStepError(err)) {
        throw err.withContext({ attempts: n });
      }
      onRetry?.(err, n);
      await delay(backoffDelay(n, policy.baseMs, policy.maxMs));
    }
  }
}
