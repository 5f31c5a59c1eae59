/**
 * The delta header: schema-level metadata that makes a delta file self-describing (`strata.format`,
 * `strata.collection`, `strata.dimension`, …, `strata.content_sha256`). Built for the writer, checked
 * field by field for the reader, and compared with what the reader expects of the collection.
 */
import { ErrorCodes, type ErrorContext, InvalidInputError } from '../core/errors.js';
import { Limits } from '../core/limits.js';
import { METRICS, type Metric } from '../core/types.js';
import { validateName } from '../core/validate.js';
import { deltaError } from './arrow-file.js';

export const DELTA_FORMAT = 'strata.delta';
export const DELTA_FORMAT_VERSION = 1;

export interface DeltaHeader {
  collection: string;
  dimension: number;
  metric: Metric;
  producer: string;
  seqStart: number;
  seqEnd: number;
  count: number;
  createdAt: string;
  contentSha256: string;
  formatVersion: number;
}

/** What the reader of a delta knows about the collection it is meant for. */
export interface DeltaExpectation {
  collection: string;
  dimension: number;
  metric: Metric;
}

export interface DeltaEncodeHeader {
  collection: string;
  dimension: number;
  metric: Metric;
  producer: string;
  seqStart: number;
  /** ISO 8601; defaults to now. */
  createdAt?: string;
}

/** Schema metadata keys. */
export const DeltaKeys = {
  format: 'strata.format',
  formatVersion: 'strata.format_version',
  collection: 'strata.collection',
  dimension: 'strata.dimension',
  metric: 'strata.metric',
  producer: 'strata.producer',
  seqStart: 'strata.seq_start',
  seqEnd: 'strata.seq_end',
  count: 'strata.count',
  createdAt: 'strata.created_at',
  contentSha256: 'strata.content_sha256',
} as const;

const UINT_RE = /^(0|[1-9][0-9]{0,15})$/;

/** Refuses a header `encodeDelta` cannot write (InvalidInputError, E_DELTA_HEADER). */
export function checkEncodeHeader(h: DeltaEncodeHeader): void {
  const bad = (what: string) =>
    new InvalidInputError(ErrorCodes.DELTA_HEADER, what, { collection: h.collection });
  try {
    validateName(h.collection);
  } catch (e) {
    throw new InvalidInputError(ErrorCodes.DELTA_HEADER, (e as Error).message, { collection: h.collection });
  }
  if (!Number.isSafeInteger(h.dimension) || h.dimension < 1 || h.dimension > Limits.maxDimension) {
    throw bad(`dimension ${h.dimension} is not an integer in 1..${Limits.maxDimension}`);
  }
  if (!METRICS.includes(h.metric)) throw bad(`metric ${JSON.stringify(h.metric)} is not one of ${METRICS}`);
  if (typeof h.producer !== 'string') throw bad('producer must be a string');
  if (!Number.isSafeInteger(h.seqStart) || h.seqStart < 0) {
    throw bad(`seqStart ${h.seqStart} is not a non-negative integer`);
  }
  if (h.createdAt !== undefined && Number.isNaN(Date.parse(h.createdAt))) {
    throw bad(`createdAt ${JSON.stringify(h.createdAt)} is not a date`);
  }
}

/** The schema metadata of a delta, every key but the content hash (which covers these values). */
export function headerMetadata(
  h: DeltaEncodeHeader,
  seqEnd: number,
  count: number,
  createdAt: string,
): Map<string, string> {
  return new Map<string, string>([
    [DeltaKeys.format, DELTA_FORMAT],
    [DeltaKeys.formatVersion, String(DELTA_FORMAT_VERSION)],
    [DeltaKeys.collection, h.collection],
    [DeltaKeys.dimension, String(h.dimension)],
    [DeltaKeys.metric, h.metric],
    [DeltaKeys.producer, h.producer],
    [DeltaKeys.seqStart, String(h.seqStart)],
    [DeltaKeys.seqEnd, String(seqEnd)],
    [DeltaKeys.count, String(count)],
    [DeltaKeys.createdAt, createdAt],
  ]);
}

/** Reads and checks every header field of a delta's schema metadata (DeltaFormatError, E_DELTA_HEADER). */
export function parseHeader(meta: ReadonlyMap<string, string>, ctx: ErrorContext): DeltaHeader {
  const format = meta.get(DeltaKeys.format);
  if (format === undefined) {
    throw deltaError(
      ErrorCodes.DELTA_HEADER,
      `not a Strata delta: the schema has no "${DeltaKeys.format}"`,
      ctx,
    );
  }
  if (format !== DELTA_FORMAT) {
    throw deltaError(
      ErrorCodes.DELTA_HEADER,
      `not a Strata delta: ${DeltaKeys.format} is ${JSON.stringify(format)}`,
      ctx,
    );
  }
  const version = meta.get(DeltaKeys.formatVersion);
  if (version === undefined || !/^[1-9][0-9]{0,8}$/.test(version)) {
    throw deltaError(
      ErrorCodes.DELTA_HEADER,
      `${DeltaKeys.formatVersion} is ${JSON.stringify(version)}`,
      ctx,
    );
  }
  const formatVersion = Number(version);
  if (formatVersion > DELTA_FORMAT_VERSION) {
    throw deltaError(
      ErrorCodes.DELTA_VERSION,
      `delta format version ${formatVersion} is newer than this build reads (${DELTA_FORMAT_VERSION})`,
      ctx,
    );
  }
  const str = (key: string): string => {
    const v = meta.get(key);
    if (v === undefined) throw deltaError(ErrorCodes.DELTA_HEADER, `header field ${key} is missing`, ctx);
    return v;
  };
  const uint = (key: string): number => {
    const v = str(key);
    if (!UINT_RE.test(v) || !Number.isSafeInteger(Number(v))) {
      throw deltaError(
        ErrorCodes.DELTA_HEADER,
        `header field ${key} is ${JSON.stringify(v)}, not an integer`,
        ctx,
      );
    }
    return Number(v);
  };
  const collection = str(DeltaKeys.collection);
  try {
    validateName(collection);
  } catch {
    throw deltaError(
      ErrorCodes.DELTA_HEADER,
      `${DeltaKeys.collection} ${JSON.stringify(collection)} is not a valid name`,
      ctx,
    );
  }
  const dimension = uint(DeltaKeys.dimension);
  if (dimension < 1 || dimension > Limits.maxDimension) {
    throw deltaError(ErrorCodes.DELTA_HEADER, `${DeltaKeys.dimension} ${dimension} is out of range`, ctx);
  }
  const metric = str(DeltaKeys.metric) as Metric;
  if (!METRICS.includes(metric)) {
    throw deltaError(
      ErrorCodes.DELTA_HEADER,
      `${DeltaKeys.metric} ${JSON.stringify(metric)} is not one of ${METRICS}`,
      ctx,
    );
  }
  const producer = str(DeltaKeys.producer);
  const seqStart = uint(DeltaKeys.seqStart);
  const seqEnd = uint(DeltaKeys.seqEnd);
  if (seqEnd < seqStart) {
    throw deltaError(ErrorCodes.DELTA_HEADER, `sequence range [${seqStart}, ${seqEnd}] is empty`, ctx);
  }
  const count = uint(DeltaKeys.count);
  const createdAt = str(DeltaKeys.createdAt);
  if (Number.isNaN(Date.parse(createdAt))) {
    throw deltaError(
      ErrorCodes.DELTA_HEADER,
      `${DeltaKeys.createdAt} ${JSON.stringify(createdAt)} is not a date`,
      ctx,
    );
  }
  const contentSha256 = str(DeltaKeys.contentSha256);
  if (!/^[0-9a-f]{64}$/.test(contentSha256)) {
    throw deltaError(ErrorCodes.DELTA_HEADER, `${DeltaKeys.contentSha256} is not a hex SHA-256`, ctx);
  }
  return {
    collection,
    dimension,
    metric,
    producer,
    seqStart,
    seqEnd,
    count,
    createdAt,
    contentSha256,
    formatVersion,
  };
}

/**
 * Refuses a delta meant for another collection: another name (E_DELTA_COLLECTION), metric
 * (E_DELTA_METRIC) or dimension (E_DIMENSION_MISMATCH).
 */
export function checkExpectation(header: DeltaHeader, expect: DeltaExpectation, ctx: ErrorContext): void {
  if (header.collection !== expect.collection) {
    throw deltaError(
      ErrorCodes.DELTA_COLLECTION,
      `the delta is for collection ${JSON.stringify(header.collection)}, not ${JSON.stringify(expect.collection)}`,
      ctx,
    );
  }
  if (header.metric !== expect.metric) {
    throw deltaError(
      ErrorCodes.DELTA_METRIC,
      `the delta's metric is ${header.metric}, the collection's is ${expect.metric}`,
      ctx,
    );
  }
  if (header.dimension !== expect.dimension) {
    throw deltaError(
      ErrorCodes.DIMENSION_MISMATCH,
      `the delta has ${header.dimension} dimensions, the collection has ${expect.dimension}`,
      ctx,
    );
  }
}
