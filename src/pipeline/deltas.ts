import { ErrorCodes, InvalidInputError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { sha256Hex } from '../core/hash.js';
import type { CollectionConfig, Operation } from '../core/types.js';
import { encodeDelta } from '../ingest/index.js';
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
 * Accepts operations as one new delta: sequence range reserved by CAS, Arrow file written, then the
 * descriptor (the acceptance point). Operations must already be validated (decode re-validates anyway).
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
  const producer = opts.producer ?? `strata@${process.pid}`;
  const seqStart = await allocateSequence(store, config.name, ops.length);
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
 * Every accepted delta of a collection, in sequence order. `cache` (descriptor by key) saves re-reading
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
    const batch = await Promise.all(slice.map((k) => readJson<DeltaDescriptor>(store, k)));
    for (const [j, b] of batch.entries()) {
      if (!b) continue;
      out.push(b.value);
      cache?.set(slice[j]!, b.value);
    }
  }
  return out.sort((a, b) => a.seqStart - b.seqStart);
}
