import { CollectionError, ErrorCodes, PreconditionFailedError, UsageError } from '../core/errors.js';
import {
  type CollectionConfig,
  DEFAULT_INDEX,
  METRICS,
  type Metric,
  QUANTIZATIONS,
  type Quantization,
} from '../core/types.js';
import { validateName } from '../core/validate.js';
import type { ObjectStore } from '../store/index.js';
import { readJson, writeJson } from './json-object.js';
import { Keys, parseCollectionConfigKey } from './layout.js';

export interface CreateCollectionOptions {
  name: string;
  dimension: number;
  metric?: Metric;
  quantization?: Quantization;
  connectivity?: number;
  expansionAdd?: number;
  expansionSearch?: number;
  extra?: Record<string, unknown>;
  /** Return the existing collection if its configuration matches instead of failing. */
  getOrCreate?: boolean;
}

export async function createCollection(
  store: ObjectStore,
  o: CreateCollectionOptions,
): Promise<CollectionConfig> {
  const name = validateName(o.name);
  if (!Number.isInteger(o.dimension) || o.dimension < 1 || o.dimension > 65536) {
    throw new UsageError(`dimension must be an integer in 1..65536, got ${o.dimension}`, {
      collection: name,
    });
  }
  const metric = o.metric ?? 'cos';
  const quantization = o.quantization ?? 'f16';
  if (!METRICS.includes(metric)) throw new UsageError(`unknown metric ${metric}`, { collection: name });
  if (!QUANTIZATIONS.includes(quantization)) {
    throw new UsageError(`unknown quantization ${quantization}`, { collection: name });
  }
  const config: CollectionConfig = {
    name,
    dimension: o.dimension,
    metric,
    quantization,
    connectivity: o.connectivity ?? DEFAULT_INDEX.connectivity,
    expansionAdd: o.expansionAdd ?? DEFAULT_INDEX.expansionAdd,
    expansionSearch: o.expansionSearch ?? DEFAULT_INDEX.expansionSearch,
    createdAt: new Date().toISOString(),
    ...(o.extra ? { extra: o.extra } : {}),
  };
  try {
    await writeJson(store, Keys.config(name), config, { ifNoneMatch: '*' });
    return config;
  } catch (e) {
    if (!(e instanceof PreconditionFailedError)) throw e;
    const existing = await getCollection(store, name);
    if (o.getOrCreate && existing.dimension === config.dimension && existing.metric === config.metric) {
      return existing;
    }
    throw new CollectionError(
      ErrorCodes.COLLECTION_EXISTS,
      o.getOrCreate
        ? `collection ${name} exists with a different configuration (dimension ${existing.dimension}, metric ${existing.metric})`
        : `collection ${name} already exists`,
      { collection: name },
    );
  }
}

export async function findCollection(
  store: ObjectStore,
  name: string,
): Promise<CollectionConfig | undefined> {
  validateName(name);
  return (await readJson<CollectionConfig>(store, Keys.config(name)))?.value;
}

export async function getCollection(store: ObjectStore, name: string): Promise<CollectionConfig> {
  const c = await findCollection(store, name);
  if (!c) {
    throw new CollectionError(ErrorCodes.COLLECTION_NOT_FOUND, `collection ${name} does not exist`, {
      collection: name,
    });
  }
  return c;
}

export async function listCollections(store: ObjectStore): Promise<string[]> {
  const names: string[] = [];
  for (const o of await store.list(Keys.collectionsPrefix)) {
    const n = parseCollectionConfigKey(o.key);
    if (n) names.push(n);
  }
  return names.sort();
}

/** Deletes every object of a collection (config last is NOT safe: config first, so it disappears from lists). */
export async function deleteCollection(store: ObjectStore, name: string): Promise<number> {
  await getCollection(store, name);
  await store.delete(Keys.config(name));
  const objs = await store.list(Keys.collection(name));
  for (const o of objs) await store.delete(o.key);
  return objs.length;
}
