import { PreconditionFailedError, StoreError } from './errors.js';

export interface RetryOptions {
  attempts?: number;
  baseMs?: number;
  maxMs?: number;
  /** Which errors are worth another attempt. Default: transient store errors. */
  retryable?: (e: unknown) => boolean;
  onRetry?: (e: unknown, attempt: number, delayMs: number) => void;
  /**
   * What to throw when giving up — after the last attempt, or on an error not worth another — given the
   * error and how many attempts were made. Default: the error itself.
   */
  giveUp?: (e: unknown, attempts: number) => unknown;
}

export function isTransient(e: unknown): boolean {
  return e instanceof StoreError && e.transient;
}

/** Full-jitter exponential backoff delay for attempt n (1-based). */
export function backoffDelay(attempt: number, baseMs = 50, maxMs = 5000): number {
  const cap = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
  return Math.floor(Math.random() * cap);
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs fn with bounded, jittered retries on retryable errors; rethrows the last error (or what `giveUp`
 * makes of it). The one retry loop: the store, pipeline and runner policies are options of it.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 6;
  const retryable = opts.retryable ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= attempts || !retryable(e)) throw opts.giveUp ? opts.giveUp(e, attempt) : e;
      const d = backoffDelay(attempt, opts.baseMs, opts.maxMs);
      opts.onRetry?.(e, attempt, d);
      await delay(d);
    }
  }
}

export function isPreconditionFailed(e: unknown): e is PreconditionFailedError {
  return e instanceof PreconditionFailedError;
}
