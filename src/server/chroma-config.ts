/**
 * Chroma's collection configuration as its server 1.0 answers it (`configuration_json`), and the rules of
 * its names — checked against the real server (chromadb 3.0.14's server 1.0.0):
 *  - configuration_json is `{hnsw: {space, ef_construction, ef_search, max_neighbors, resize_factor,
 *    sync_threshold}, spann: null, embedding_function}`: the defaults (l2, 100, 100, 16, 1.2, 1000) under
 *    what the create request gave; `num_threads` and `batch_size` are accepted but not echoed; a `spann`
 *    configuration becomes an hnsw one of the same space; without hnsw/spann, the legacy `hnsw:*` keys of
 *    the collection metadata apply; an unknown field or space does not deserialize (422);
 *  - modify may change ef_search, max_neighbors, num_threads, resize_factor, sync_threshold, batch_size
 *    (anything else, `space` included, is 422);
 *  - collection names: 3-512 characters of [a-zA-Z0-9._-], starting and ending with [a-zA-Z0-9], no "..",
 *    not an IPv4 address; tenant and database names: at least 3 characters.
 */
import { METRIC_OF_SPACE } from '../core/chroma.js';
import { ErrorCodes, InvalidInputError } from '../core/errors.js';
import type { Metric } from '../core/types.js';
import { ChromaApiError } from './http-errors.js';

const HNSW_DEFAULTS = {
  space: 'l2',
  ef_construction: 100,
  ef_search: 100,
  max_neighbors: 16,
  resize_factor: 1.2,
  sync_threshold: 1000,
} as const;
/** Echoed in configuration_json. */
const HNSW_ECHOED = [
  'ef_construction',
  'ef_search',
  'max_neighbors',
  'resize_factor',
  'sync_threshold',
] as const;
/** Accepted at creation. */
const HNSW_CREATE = new Set<string>(['space', ...HNSW_ECHOED, 'num_threads', 'batch_size']);
/** Accepted by modify. */
const HNSW_UPDATE = new Set<string>([
  'ef_search',
  'max_neighbors',
  'num_threads',
  'resize_factor',
  'sync_threshold',
  'batch_size',
]);
const SPACES = new Set(['l2', 'cosine', 'ip']);
/** Legacy collection metadata keys → hnsw fields. */
const METADATA_KEYS: Readonly<Record<string, string>> = {
  'hnsw:space': 'space',
  'hnsw:construction_ef': 'ef_construction',
  'hnsw:search_ef': 'ef_search',
  'hnsw:M': 'max_neighbors',
  'hnsw:resize_factor': 'resize_factor',
  'hnsw:sync_threshold': 'sync_threshold',
};

/** 422, as Chroma answers a body that does not deserialize into its request type. */
export function undeserializable(what: string): ChromaApiError {
  return new ChromaApiError(
    422,
    'ChromaError',
    ErrorCodes.BAD_RECORD,
    `Failed to deserialize the JSON body into the target type: ${what}`,
  );
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function checkHnsw(h: Record<string, unknown>, allowed: Set<string>, field: string): void {
  for (const [k, v] of Object.entries(h)) {
    if (!allowed.has(k)) throw undeserializable(`${field}.${k}: unknown field \`${k}\``);
    if (k === 'space') {
      if (typeof v !== 'string' || !SPACES.has(v)) {
        throw undeserializable(`${field}.space: unknown variant, expected one of \`l2\`, \`cosine\`, \`ip\``);
      }
    } else if (v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) {
      throw undeserializable(`${field}.${k}: invalid value`);
    }
  }
}

/**
 * configuration_json of a new collection, from the create request's configuration and metadata (or from
 * what is already stored: Chroma's own `{vector_index: {hnsw}}` form of an imported collection, or an
 * earlier configuration_json — the result is the same for both).
 */
export function chromaConfiguration(
  configuration: unknown,
  metadata: Record<string, unknown> | null,
): Record<string, unknown> {
  let c: Record<string, unknown> = isObject(configuration) ? configuration : {};
  if (isObject(c.vector_index)) c = { ...c.vector_index, embedding_function: c.embedding_function };
  const given = isObject(c.hnsw) ? c.hnsw : isObject(c.spann) ? { space: c.spann.space } : undefined;
  const hnsw: Record<string, unknown> = { ...HNSW_DEFAULTS };
  if (given) {
    checkHnsw(given, HNSW_CREATE, isObject(c.hnsw) ? 'configuration.hnsw' : 'configuration.spann');
    for (const [k, v] of Object.entries(given)) {
      if (v !== null && v !== undefined && (k === 'space' || (HNSW_ECHOED as readonly string[]).includes(k)))
        hnsw[k] = v;
    }
  } else if (metadata) {
    for (const [key, field] of Object.entries(METADATA_KEYS)) {
      const v = metadata[key];
      if (v === undefined) continue;
      if (field === 'space' && (typeof v !== 'string' || !SPACES.has(v))) {
        throw new InvalidInputError(
          ErrorCodes.USAGE,
          `unknown distance space ${JSON.stringify(v)} (use l2, cosine or ip)`,
        );
      }
      hnsw[field] = v;
    }
  }
  return { hnsw, spann: null, embedding_function: c.embedding_function ?? null };
}

/** The metric of a configuration_json. */
export function metricOf(configuration: Record<string, unknown>): Metric {
  const space = (configuration.hnsw as { space?: string } | undefined)?.space ?? 'l2';
  return (METRIC_OF_SPACE as Readonly<Record<string, Metric>>)[space] ?? 'l2sq';
}

/** configuration_json after a modify's new_configuration. */
export function updatedConfiguration(
  current: Record<string, unknown>,
  update: unknown,
): Record<string, unknown> {
  if (update === undefined || update === null) return current;
  if (!isObject(update)) throw undeserializable('new_configuration: expected an object');
  const out = { ...current };
  if (isObject(update.hnsw)) {
    checkHnsw(update.hnsw, HNSW_UPDATE, 'new_configuration.hnsw');
    const hnsw = { ...(current.hnsw as Record<string, unknown>) };
    for (const [k, v] of Object.entries(update.hnsw)) {
      if (v !== null && (HNSW_ECHOED as readonly string[]).includes(k)) hnsw[k] = v;
    }
    out.hnsw = hnsw;
  } else if (update.hnsw !== undefined && update.hnsw !== null) {
    throw undeserializable('new_configuration.hnsw: expected an object');
  }
  if (update.embedding_function !== undefined && update.embedding_function !== null) {
    out.embedding_function = update.embedding_function;
  }
  return out;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$/;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** A collection name by Chroma's rules (400 otherwise, with Chroma's message). */
export function validateCollectionName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string') throw undeserializable(`${field}: invalid type, expected a string`);
  if (!NAME_RE.test(name)) {
    throw new InvalidInputError(
      ErrorCodes.USAGE,
      `Validation error: ${field}: Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. Got: ${name}`,
    );
  }
  if (name.includes('..')) {
    throw new InvalidInputError(
      ErrorCodes.USAGE,
      `Validation error: ${field}: Expected a name that does not contains two consecutive periods (..). Got ${name}`,
    );
  }
  if (IPV4_RE.test(name)) {
    throw new InvalidInputError(
      ErrorCodes.USAGE,
      `Validation error: ${field}: Expected a name that is not a valid ip address. Got ${name}`,
    );
  }
  return name;
}

/** Collection metadata of a create or modify: non-empty; create refuses null values, modify drops them. */
export function collectionMetadata(
  v: unknown,
  field: 'metadata' | 'new_metadata',
): Record<string, unknown> | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw undeserializable(`${field}: expected a map`);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null) {
      if (field === 'metadata')
        throw undeserializable(
          `${field}.${k}: data did not match any variant of untagged enum MetadataValue`,
        );
      continue;
    }
    if (typeof x !== 'string' && typeof x !== 'boolean' && !(typeof x === 'number' && Number.isFinite(x))) {
      throw undeserializable(`${field}.${k}: data did not match any variant of untagged enum MetadataValue`);
    }
    out[k] = x;
  }
  if (Object.keys(v).length === 0) {
    throw new InvalidInputError(ErrorCodes.USAGE, `Validation error: ${field}: Metadata cannot be empty`);
  }
  return Object.keys(out).length === 0 ? null : out;
}

/** Tenant and database names at creation: Chroma wants at least 3 characters. */
export function validateNewTenantName(name: unknown, field: 'name' | 'database_name'): string {
  if (typeof name !== 'string') throw undeserializable(`${field}: invalid type, expected a string`);
  if (name.length < 3) {
    throw new InvalidInputError(
      ErrorCodes.USAGE,
      `Validation error: ${field}: Validation error: length [{"min": Number(3), "value": String(${JSON.stringify(name)})}]`,
    );
  }
  return name;
}
