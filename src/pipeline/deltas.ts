import {
  ErrorCodes,
  InvalidInputError,
  PreconditionFailedError,
  StoreError,
  StrataError,
  toStrataError,
} from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { sha256Hex } from '../core/hash.js';
import { withRetry } from '../core/retry.js';
import type { CollectionConfig, Operation } from '../core/types.js';
import { encodeDelta, validateStorableOperation } from '../ingest/index.js';
import type { ObjectStore } from '../store/index.js';
import { readJson, writeJson } from './json-object.js';
import { Keys, parseDeltaDescriptorKey } from './layout.js';
import { allocateSequence } from './sequence.js';

/** What the store knows of an accepted delta. Written last: its existence IS the acceptance. */
export interface DeltaDescriptor {
  collection: string;
  seqStart: number;
  seqEnd: number;
  count: number;
  key: string;
  sha256: string;
  size: number;
  producer: string;
  source?: string;
  acceptedAt: string;
}

export interface AcceptOptions {
  producer?: string;
  /** Where the operations came from (a file name), for the ledger. */
  source?: string;
}

/**
 * A reservation whose delta was never written, stored at the descriptor's own key in place of the
 * descriptor. Written with `ifNoneMatch: '*'` like a descriptor, so for one sequence position exactly one
 * of the two can ever exist: once the tombstone is in, no late descriptor can appear behind it, and the
 * planner can skip the range at once instead of waiting out the in-flight grace.
 */
export interface AbandonedReservation {
  collection: string;
  seqStart: number;
  seqEnd: number;
  abandoned: { at: string; producer: string; code: string; message: string };
}

export function isAbandoned(v: DeltaDescriptor | AbandonedReservation): v is AbandonedReservation {
  return (v as AbandonedReservation).abandoned !== undefined;
}

/**
 * Accepts operations as one new delta: operations validated, sequence range reserved by CAS, Arrow file
 * written, then the descriptor (the acceptance point). Invalid operations are refused before anything is
 * reserved. A write that fails after its reservation closes the reservation at once with a tombstone at
 * the descriptor's key (see AbandonedReservation), so a failed write never holds up the deltas after it.
 */
export async function acceptDelta(
  store: ObjectStore,
  config: CollectionConfig,
  ops: Operation[],
  opts: AcceptOptions = {},
): Promise<DeltaDescriptor> {
  if (ops.length === 0) {
    throw new InvalidInputError(ErrorCodes.DELTA_EMPTY, 'a delta needs at least one operation', {
      collection: config.name,
      file: opts.source,
    });
  }
  // Everything encodeDelta would refuse, refused before a sequence number is spent on it.
  for (const [i, o] of ops.entries()) {
    validateStorableOperation(o, config.dimension, { collection: config.name, file: opts.source, row: i });
  }
  const producer = opts.producer ?? `strata@${process.pid}`;
  const seqStart = await allocateSequence(store, config.name, ops.length);
  try {
    return await writeReserved(store, config, ops, seqStart, producer, opts);
  } catch (e) {
    return abandonReservation(store, config.name, seqStart, ops.length, producer, e);
  }
}

async function writeReserved(
  store: ObjectStore,
  config: CollectionConfig,
  ops: Operation[],
  seqStart: number,
  producer: string,
  opts: AcceptOptions,
): Promise<DeltaDescriptor> {
  const { bytes, header } = encodeDelta(
    { collection: config.name, dimension: config.dimension, metric: config.metric, producer, seqStart },
    ops,
  );
  const key = Keys.deltaData(config.name, seqStart);
  const sha256 = sha256Hex(bytes);
  await store.put(key, bytes, { ifNoneMatch: '*', sha256, contentType: 'application/vnd.apache.arrow.file' });
  failpoint('ingest.after-data');
  const d: DeltaDescriptor = {
    collection: config.name,
    seqStart,
    seqEnd: header.seqEnd,
    count: header.count,
    key,
    sha256,
    size: bytes.byteLength,
    producer,
    ...(opts.source ? { source: opts.source } : {}),
    acceptedAt: new Date().toISOString(),
  };
  await writeJson(store, Keys.deltaDescriptor(config.name, seqStart), d, { ifNoneMatch: '*' });
  return d;
}

/**
 * Closes a reserved range for good: a tombstone at the descriptor key of `seqStart`, created only if
 * absent. `closed` when the tombstone is in (or was already); otherwise what is there instead — the
 * descriptor, which won the race. The orphaned data object, if any, is removed (best effort).
 */
export async function closeReservation(
  store: ObjectStore,
  collection: string,
  seqStart: number,
  seqEnd: number,
  why: { producer: string; code: string; message: string },
): Promise<{ closed: true } | { closed: false; descriptor: DeltaDescriptor }> {
  const key = Keys.deltaDescriptor(collection, seqStart);
  const tomb: AbandonedReservation = {
    collection,
    seqStart,
    seqEnd,
    abandoned: { at: new Date().toISOString(), ...why },
  };
  try {
    // Any store error is worth another try here (a put that failed once often succeeds next): a tombstone
    // that cannot be written costs every later delta the in-flight grace. A retry after a put whose answer
    // was lost meets its own tombstone (a precondition failure, handled below).
    await withRetry(() => writeJson(store, key, tomb, { ifNoneMatch: '*' }), {
      attempts: 4,
      baseMs: 20,
      maxMs: 200,
      retryable: (e) => e instanceof StoreError,
    });
  } catch (e) {
    if (!(e instanceof PreconditionFailedError)) throw e;
    const there = await readJson<DeltaDescriptor | AbandonedReservation>(store, key);
    if (!there) throw e;
    if (!isAbandoned(there.value)) return { closed: false, descriptor: there.value };
  }
  // The data object, if it was written, is unreachable now: nothing will ever read it.
  await store.delete(Keys.deltaData(collection, seqStart)).catch(() => undefined);
  return { closed: true };
}

/**
 * The write of a reserved range failed: close the range with a tombstone, then rethrow. If the descriptor
 * is there after all (the store applied a put whose answer was lost), the delta was accepted: return it.
 * If a compactor closed the range first (it waited out the in-flight grace), the write is refused with
 * E_RESERVATION_ABANDONED. If the tombstone cannot be written either (the store is unreachable), the
 * reservation stays open and the planner's in-flight grace is the fallback.
 */
async function abandonReservation(
  store: ObjectStore,
  collection: string,
  seqStart: number,
  count: number,
  producer: string,
  cause: unknown,
): Promise<DeltaDescriptor> {
  const err = toStrataError(cause, { collection });
  let r: Awaited<ReturnType<typeof closeReservation>>;
  try {
    r = await closeReservation(store, collection, seqStart, seqStart + count - 1, {
      producer,
      code: err.code,
      message: err.message,
    });
  } catch {
    throw cause;
  }
  if (!r.closed) return r.descriptor;
  if (cause instanceof PreconditionFailedError) {
    throw new StrataError(
      ErrorCodes.RESERVATION_ABANDONED,
      `sequence range ${seqStart}..${seqStart + count - 1} was closed by a compactor before this write finished (it outlived the in-flight grace); nothing was accepted: write it again`,
      { collection, delta: String(seqStart) },
    );
  }
  throw cause;
}

/**
 * Every accepted delta of a collection, in sequence order (tombstones of abandoned reservations left out). `cache` (descriptor by key) saves re-reading
 * descriptors a long-lived reader has seen: a descriptor is created once and never changes.
 */
export async function listDeltas(
  store: ObjectStore,
  collection: string,
  cache?: Map<string, DeltaDescriptor>,
): Promise<DeltaDescriptor[]> {
  const objs = await store.list(Keys.deltasPrefix(collection));
  const keys = objs.filter((o) => parseDeltaDescriptorKey(o.key) !== undefined).map((o) => o.key);
  const out: DeltaDescriptor[] = [];
  const seen = new Set(keys);
  if (cache) for (const k of cache.keys()) if (!seen.has(k)) cache.delete(k);
  const toRead = cache ? keys.filter((k) => !cache.has(k)) : keys;
  if (cache) for (const k of keys) if (cache.has(k)) out.push(cache.get(k)!);
  // Bounded parallel reads: descriptors are tiny, stores have latency.
  const width = 16;
  for (let i = 0; i < toRead.length; i += width) {
    const slice = toRead.slice(i, i + width);
    const batch = await Promise.all(
      slice.map((k) => readJson<DeltaDescriptor | AbandonedReservation>(store, k)),
    );
    for (const [j, b] of batch.entries()) {
      if (!b || isAbandoned(b.value)) continue;
      out.push(b.value);
      cache?.set(slice[j]!, b.value);
    }
  }
  return out.sort((a, b) => a.seqStart - b.seqStart);
}
