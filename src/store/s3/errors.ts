/**
 * Maps what the AWS SDK throws onto Strata's store errors:
 * - 404 / NoSuchKey / NotFound → NotFoundError (for reads; conditional writes decide for themselves);
 * - 412 PreconditionFailed (and 409 ConditionalRequestConflict) → PreconditionFailedError;
 * - 5xx, 429, throttling codes, request timeouts, connection resets/refusals → transient StoreError
 *   (withRetry retries those with jittered backoff);
 * - everything else (403, NoSuchBucket, InvalidArgument…) → permanent StoreError.
 * Every error carries the bucket and key (and the HTTP status and S3 error code where there is one).
 */
import { NotFoundError, PreconditionFailedError, StoreError, StrataError } from '../../core/errors.js';

const THROTTLING = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'OperationAborted',
]);
const NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'AbortError']);

export interface S3ErrorShape {
  status: number | undefined;
  code: string | undefined;
}

/** Status and S3 error code of an SDK error (either may be unknown). */
export function s3ErrorShape(e: unknown): S3ErrorShape {
  const o = (e ?? {}) as { name?: unknown; Code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = typeof o.$metadata?.httpStatusCode === 'number' ? o.$metadata.httpStatusCode : undefined;
  const code = typeof o.Code === 'string' ? o.Code : typeof o.name === 'string' ? o.name : undefined;
  return { status, code };
}

function systemCode(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

export function isTransientS3(e: unknown): boolean {
  const { status, code } = s3ErrorShape(e);
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (code && (THROTTLING.has(code) || TIMEOUT_NAMES.has(code))) return true;
  const sys = systemCode(e);
  if (sys && NETWORK.has(sys)) return true;
  const msg = e instanceof Error ? e.message : '';
  return /socket hang up|ECONNRESET|timed? ?out|Premature close/i.test(msg);
}

export function isNotFoundS3(e: unknown): boolean {
  const { status, code } = s3ErrorShape(e);
  return status === 404 || code === 'NoSuchKey' || code === 'NotFound';
}

export function isPreconditionS3(e: unknown): boolean {
  const { status, code } = s3ErrorShape(e);
  return (
    status === 412 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict' || status === 409
  );
}

/** A StoreError (transient or permanent) for anything the SDK threw; StrataErrors pass through. */
export function storeErrorOf(
  what: string,
  e: unknown,
  context: { bucket: string; key?: string; [k: string]: unknown },
): StrataError {
  if (e instanceof StrataError) return e;
  const { status, code } = s3ErrorShape(e);
  const msg = e instanceof Error ? e.message : String(e);
  return new StoreError(
    `${what}: ${code && !msg.includes(code) ? `${code}: ` : ''}${msg || `HTTP ${status ?? '?'}`}`,
    { ...context, ...(status !== undefined ? { status } : {}), ...(code ? { s3Code: code } : {}) },
    { cause: e, transient: isTransientS3(e) },
  );
}

export function notFound(bucket: string, key: string): NotFoundError {
  return new NotFoundError('no object at this key', { key, bucket });
}

export function preconditionFailed(
  message: string,
  bucket: string,
  key: string,
  extra: Record<string, unknown> = {},
): PreconditionFailedError {
  return new PreconditionFailedError(message, { key, bucket, ...extra });
}
