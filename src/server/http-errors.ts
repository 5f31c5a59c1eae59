/**
 * Errors as the HTTP API answers them: Chroma's body shape `{error, message}` (plus Strata's stable
 * `code`) with the status codes the chromadb client maps to its error classes:
 * 400 → ChromaClientError, 401/403 → auth errors, 404 → ChromaNotFoundError, 409 → ChromaUniqueError,
 * 429 → ChromaRateLimitError, 5xx → server errors. The object store being unreachable (a transient
 * StoreError after the store's own retries) is 503: the request may be retried; reads of a snapshot
 * already open never touch the store.
 */
import { type ErrorCode, ErrorCodes, InvalidInputError, StrataError } from '../core/errors.js';
import { isTransient } from '../core/retry.js';

/**
 * An error answered with the status and error name Chroma uses for it, where that is not what the code
 * alone would give: 422 `ChromaError` for a body that does not deserialize into Chroma's request type,
 * 409 for a tenant or database that exists, 403 for reset, 501 for fork (the chromadb clients map each
 * status to their own error class).
 */
export class ChromaApiError extends StrataError {
  readonly status: number;
  readonly errorName: string;
  constructor(status: number, errorName: string, code: ErrorCode, message: string) {
    super(code, message);
    this.status = status;
    this.errorName = errorName;
  }
}

export interface HttpErrorBody {
  error: string;
  message: string;
  code: string;
}

/** Codes that mean "the request was wrong" (400). */
const BAD_REQUEST = new Set<string>([
  ErrorCodes.USAGE,
  ErrorCodes.UNSUPPORTED,
  ErrorCodes.DIMENSION_MISMATCH,
  ErrorCodes.NON_FINITE,
  ErrorCodes.ID_EMPTY,
  ErrorCodes.ID_TOO_LONG,
  ErrorCodes.ID_CHARSET,
  ErrorCodes.ID_NOT_UTF8,
  ErrorCodes.ID_COLLISION,
  ErrorCodes.DUPLICATE_ID,
  ErrorCodes.METADATA_TYPE,
  ErrorCodes.METADATA_TOO_LARGE,
  ErrorCodes.DOCUMENT_TOO_LARGE,
  ErrorCodes.MISSING_EMBEDDING,
  ErrorCodes.BAD_OPERATION,
  ErrorCodes.BAD_RECORD,
  ErrorCodes.BAD_JSON,
  ErrorCodes.DELTA_EMPTY,
  ErrorCodes.COLLECTION_CONFIG,
  ErrorCodes.STORE_KEY,
]);

export function toHttpError(e: unknown): { status: number; body: HttpErrorBody } {
  if (e instanceof ChromaApiError) {
    return { status: e.status, body: { error: e.errorName, message: e.message, code: e.code } };
  }
  if (e instanceof StrataError) {
    const body = (error: string) => ({ error, message: e.message, code: e.code });
    switch (e.code) {
      case ErrorCodes.NOT_FOUND:
      case ErrorCodes.COLLECTION_NOT_FOUND:
        return { status: 404, body: body('NotFoundError') };
      case ErrorCodes.COLLECTION_EXISTS:
        return { status: 409, body: body('UniqueConstraintError') };
      case ErrorCodes.LEASE_HELD:
        return { status: 409, body: body('ConflictError') };
      case ErrorCodes.UNAUTHORIZED:
        return { status: 401, body: body('AuthenticationError') };
      case ErrorCodes.FORBIDDEN:
        return { status: 403, body: body('AuthorizationError') };
      case ErrorCodes.BACKPRESSURE:
        return { status: 429, body: body('RateLimitError') };
      case ErrorCodes.CLOSED:
        return { status: 503, body: body('ServiceUnavailableError') };
      case ErrorCodes.NO_SPACE:
        return { status: 507, body: body('InsufficientStorageError') };
    }
    if (isTransient(e)) return { status: 503, body: body('ServiceUnavailableError') };
    if (e instanceof InvalidInputError || BAD_REQUEST.has(e.code)) {
      return { status: 400, body: body('InvalidArgumentError') };
    }
    return { status: 500, body: body('InternalError') };
  }
  // Fastify's own errors (bad JSON, body too large, unsupported media type) carry a 4xx statusCode.
  const f = e as { statusCode?: number; message?: string; code?: string };
  if (typeof f?.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    return {
      status: f.statusCode,
      body: {
        error: f.statusCode === 413 ? 'PayloadTooLargeError' : 'InvalidArgumentError',
        message: f.message ?? 'bad request',
        code: f.statusCode === 413 ? ErrorCodes.USAGE : ErrorCodes.BAD_JSON,
      },
    };
  }
  return {
    status: 500,
    body: { error: 'InternalError', message: (e as Error)?.message ?? String(e), code: ErrorCodes.INTERNAL },
  };
}
