/**
 * Named, coded errors. Every error Strata raises on purpose is a StrataError with a stable
 * `code` (part of the public contract: scripts and the HTTP API switch on it) and a context
 * naming what a person needs to act on (collection, run, group, chunk, delta, file, key).
 */

export const ErrorCodes = {
  // bad input (quarantinable): one code per class of bad input
  DIMENSION_MISMATCH: 'E_DIMENSION_MISMATCH',
  NON_FINITE: 'E_NON_FINITE',
  ID_EMPTY: 'E_ID_EMPTY',
  ID_TOO_LONG: 'E_ID_TOO_LONG',
  ID_CHARSET: 'E_ID_CHARSET',
  ID_NOT_UTF8: 'E_ID_NOT_UTF8',
  ID_COLLISION: 'E_ID_COLLISION',
  DUPLICATE_ID: 'E_DUPLICATE_ID',
  METADATA_TYPE: 'E_METADATA_TYPE',
  METADATA_TOO_LARGE: 'E_METADATA_TOO_LARGE',
  DOCUMENT_TOO_LARGE: 'E_DOCUMENT_TOO_LARGE',
  MISSING_EMBEDDING: 'E_MISSING_EMBEDDING',
  BAD_OPERATION: 'E_BAD_OPERATION',
  BAD_RECORD: 'E_BAD_RECORD',
  DELTA_TRUNCATED: 'E_DELTA_TRUNCATED',
  DELTA_CHECKSUM: 'E_DELTA_CHECKSUM',
  DELTA_COLLECTION: 'E_DELTA_COLLECTION',
  DELTA_METRIC: 'E_DELTA_METRIC',
  DELTA_EMPTY: 'E_DELTA_EMPTY',
  DELTA_MAGIC: 'E_DELTA_MAGIC',
  DELTA_VERSION: 'E_DELTA_VERSION',
  DELTA_CORRUPT: 'E_DELTA_CORRUPT',
  DELTA_COUNT_MISMATCH: 'E_DELTA_COUNT_MISMATCH',
  DELTA_HEADER: 'E_DELTA_HEADER',
  BAD_JSON: 'E_BAD_JSON',
  OPENAI_FAILED_REQUEST: 'E_OPENAI_FAILED_REQUEST',
  JOIN_MISSING: 'E_JOIN_MISSING',
  // store
  NOT_FOUND: 'E_NOT_FOUND',
  PRECONDITION_FAILED: 'E_PRECONDITION_FAILED',
  STORE_INTEGRITY: 'E_STORE_INTEGRITY',
  STORE_IO: 'E_STORE_IO',
  STORE_KEY: 'E_STORE_KEY',
  /** The filesystem under the store or the scratch directory is full (ENOSPC, EDQUOT, SQLITE_FULL). */
  NO_SPACE: 'E_NO_SPACE',
  // pipeline
  LEASE_HELD: 'E_LEASE_HELD',
  LEASE_LOST: 'E_LEASE_LOST',
  FENCED: 'E_FENCED',
  POINTER_CONFLICT: 'E_POINTER_CONFLICT',
  VERIFY_FAILED: 'E_VERIFY_FAILED',
  MANIFEST_INVALID: 'E_MANIFEST_INVALID',
  // segmented versions: a version that lists a missing or corrupt segment, a deletion vector that disagrees
  // with its segment, or a segment whose manifest does not match its address is refused at open
  VERSION_INVALID: 'E_VERSION_INVALID',
  SEGMENT_MISSING: 'E_SEGMENT_MISSING',
  SEGMENT_ADDRESS: 'E_SEGMENT_ADDRESS',
  DELETION_VECTOR_INVALID: 'E_DELETION_VECTOR',
  MERGE_OBSOLETE: 'E_MERGE_OBSOLETE',
  STEP_FAILED: 'E_STEP_FAILED',
  STEP_TIMEOUT: 'E_STEP_TIMEOUT',
  WORKER_CRASHED: 'E_WORKER_CRASHED',
  COLLECTION_EXISTS: 'E_COLLECTION_EXISTS',
  COLLECTION_NOT_FOUND: 'E_COLLECTION_NOT_FOUND',
  COLLECTION_CONFIG: 'E_COLLECTION_CONFIG',
  NOTHING_TO_DO: 'E_NOTHING_TO_DO',
  /** A producer's sequence reservation was closed (tombstoned) before its descriptor landed. */
  RESERVATION_ABANDONED: 'E_RESERVATION_ABANDONED',
  CLOSED: 'E_CLOSED',
  // interop (Chroma persistent directories)
  CHROMA_IN_USE: 'E_CHROMA_IN_USE',
  CHROMA_CHANGED: 'E_CHROMA_CHANGED',
  CHROMA_FORMAT: 'E_CHROMA_FORMAT',
  CHROMA_INDEX_TRUNCATED: 'E_CHROMA_INDEX_TRUNCATED',
  CHROMA_COUNTS: 'E_CHROMA_COUNTS',
  CHROMA_LOG_MISSING: 'E_CHROMA_LOG_MISSING',
  CHROMA_SERVER: 'E_CHROMA_SERVER',
  CHROMA_EXPORT_VERIFY: 'E_CHROMA_EXPORT_VERIFY',
  // usage
  USAGE: 'E_USAGE',
  INTERNAL: 'E_INTERNAL',
  // query server
  UNAUTHORIZED: 'E_UNAUTHORIZED',
  FORBIDDEN: 'E_FORBIDDEN',
  BACKPRESSURE: 'E_BACKPRESSURE',
  UNSUPPORTED: 'E_UNSUPPORTED',
  // distributed runner
  QUEUE_UNAVAILABLE: 'E_QUEUE_UNAVAILABLE',
  /** Redis lost the queue's data while a step was queued (restarted without persistence, flushed). */
  QUEUE_LOST: 'E_QUEUE_LOST',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ErrorContext {
  collection?: string;
  run?: string;
  group?: number | string;
  chunk?: number | string;
  delta?: string;
  file?: string;
  key?: string;
  snapshot?: string | number;
  row?: number;
  id?: string;
  [extra: string]: unknown;
}

export interface SerializedError {
  name: string;
  code: string;
  message: string;
  context: ErrorContext;
  stack?: string;
}

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.context = stripUndefined(context);
  }

  /** A copy with more context (inner layers know the row, outer layers the chunk and run). */
  withContext(extra: ErrorContext): StrataError {
    const copy = Object.create(Object.getPrototypeOf(this)) as StrataError;
    Object.assign(copy, this);
    Object.defineProperty(copy, 'message', { value: this.message, enumerable: false, writable: true });
    Object.defineProperty(copy, 'stack', { value: this.stack, enumerable: false, writable: true });
    (copy as { context: ErrorContext }).context = stripUndefined({ ...this.context, ...extra });
    return copy;
  }

  toJSON(): SerializedError {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      context: this.context,
      stack: this.stack,
    };
  }

  /** `code: message (collection=…, run=…)` — the form the CLI prints. */
  describe(): string {
    const ctx = Object.entries(this.context)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ');
    return ctx ? `${this.code}: ${this.message} (${ctx})` : `${this.code}: ${this.message}`;
  }
}

/** Input that must be refused (and, inside a run, quarantined). */
export class InvalidInputError extends StrataError {}
/** A delta file that cannot be read as what it claims to be. */
export class DeltaFormatError extends InvalidInputError {}
export class NotFoundError extends StrataError {
  constructor(message: string, context: ErrorContext = {}) {
    super(ErrorCodes.NOT_FOUND, message, context);
  }
}
/** A conditional write lost its race (S3: HTTP 412). */
export class PreconditionFailedError extends StrataError {
  constructor(message: string, context: ErrorContext = {}) {
    super(ErrorCodes.PRECONDITION_FAILED, message, context);
  }
}
/** Stored bytes do not match their recorded SHA-256. Never silently used. */
export class IntegrityError extends StrataError {}
/** A store operation failed; `transient` says whether a retry may succeed. */
export class StoreError extends StrataError {
  readonly transient: boolean;
  constructor(
    message: string,
    context: ErrorContext = {},
    options?: { cause?: unknown; transient?: boolean; code?: ErrorCode },
  ) {
    super(options?.code ?? ErrorCodes.STORE_IO, message, context, options);
    this.transient = options?.transient ?? false;
  }
}
export class LeaseError extends StrataError {}
export class FencedError extends StrataError {
  constructor(message: string, context: ErrorContext = {}) {
    super(ErrorCodes.FENCED, message, context);
  }
}
export class VerificationError extends StrataError {
  constructor(message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(ErrorCodes.VERIFY_FAILED, message, context, options);
  }
}
export class StepError extends StrataError {}
export class UsageError extends StrataError {
  constructor(message: string, context: ErrorContext = {}) {
    super(ErrorCodes.USAGE, message, context);
  }
}
export class CollectionError extends StrataError {}
export class ClosedError extends StrataError {
  constructor(what: string, context: ErrorContext = {}) {
    super(ErrorCodes.CLOSED, `${what} is closed`, context);
  }
}

const classes: Record<string, new (code: ErrorCode, message: string, context?: ErrorContext) => StrataError> =
  {
    StrataError,
    InvalidInputError,
    DeltaFormatError,
    IntegrityError,
    LeaseError,
    StepError,
    CollectionError,
  };

/** Rebuild an error that crossed a process boundary (worker → parent, queue → submitter). */
export function deserializeError(s: SerializedError): StrataError {
  let err: StrataError;
  switch (s.name) {
    case 'NotFoundError':
      err = new NotFoundError(s.message, s.context);
      break;
    case 'PreconditionFailedError':
      err = new PreconditionFailedError(s.message, s.context);
      break;
    case 'FencedError':
      err = new FencedError(s.message, s.context);
      break;
    case 'VerificationError':
      err = new VerificationError(s.message, s.context);
      break;
    case 'UsageError':
      err = new UsageError(s.message, s.context);
      break;
    case 'StoreError':
      err = new StoreError(s.message, s.context, { code: s.code as ErrorCode });
      break;
    default: {
      const Ctor = classes[s.name] ?? StrataError;
      err = new Ctor(s.code as ErrorCode, s.message, s.context);
    }
  }
  if (s.stack) err.stack = s.stack;
  return err;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof StrataError) return e.toJSON();
  const err = e instanceof Error ? e : new Error(String(e));
  return {
    name: 'StrataError',
    code: ErrorCodes.INTERNAL,
    message: err.message,
    context: {},
    stack: err.stack,
  };
}

export function isStrataError(e: unknown, code?: ErrorCode): e is StrataError {
  return e instanceof StrataError && (code === undefined || e.code === code);
}

const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);
const NO_SPACE_MESSAGE = /no space left on device|disk quota exceeded|database or disk is full|\bENOSPC\b/i;

/** Whether a filesystem, SQLite or native-addon error says the disk (or quota) is full. */
export function isNoSpace(e: unknown): boolean {
  if (e instanceof StrataError) return e.code === ErrorCodes.NO_SPACE;
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NO_SPACE_CODES.has(code)) return true;
  return e instanceof Error && NO_SPACE_MESSAGE.test(e.message);
}

/**
 * E_NO_SPACE, saying what was being done. Not transient: a full disk is not fixed by retrying at once;
 * what was written so far is private (temp files, a step's own prefix) and nothing is half-published.
 */
export function noSpaceError(doing: string, cause: unknown, context: ErrorContext = {}): StoreError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new StoreError(
    `no space left on the device while ${doing} (${msg}); free space and run again`,
    context,
    {
      cause,
      transient: false,
      code: ErrorCodes.NO_SPACE,
    },
  );
}

/** Wrap anything thrown into a StrataError (unexpected errors become E_INTERNAL, a full disk E_NO_SPACE). */
export function toStrataError(e: unknown, context: ErrorContext = {}): StrataError {
  if (e instanceof StrataError) return Object.keys(context).length ? e.withContext(context) : e;
  if (isNoSpace(e)) {
    const doing =
      context.chunk !== undefined
        ? `building chunk ${String(context.chunk)}`
        : context.group !== undefined
          ? `merging group ${String(context.group)}`
          : context.run !== undefined
            ? `building the final merge of run ${String(context.run)}`
            : 'writing';
    return noSpaceError(doing, e, context);
  }
  const err = e instanceof Error ? e : new Error(String(e));
  return new StrataError(ErrorCodes.INTERNAL, err.message, context, { cause: err });
}

function stripUndefined(ctx: ErrorContext): ErrorContext {
  const out: ErrorContext = {};
  for (const [k, v] of Object.entries(ctx)) if (v !== undefined) out[k] = v;
  return out;
}
