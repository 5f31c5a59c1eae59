/**
 * `strata import chroma DIR`: every collection of a Chroma persistent directory (or one) becomes a Strata
 * collection of the same name, its records accepted as deltas (upserts, at most `batch` per delta).
 * All-or-nothing per directory: every selected collection is reconciled and every record validated, and
 * the directory is checked unchanged, before the first delta is written.
 */
import { basename } from 'node:path';
import { type ChromaIdentity, type ChromaSpace, METRIC_OF_SPACE } from '../../core/chroma.js';
import { ErrorCodes, StrataError, UsageError } from '../../core/errors.js';
import type { Quantization, UpsertOp } from '../../core/types.js';
import { validateName } from '../../core/validate.js';
import { createCollection } from '../../pipeline/collections.js';
import { acceptDelta, type DeltaDescriptor } from '../../pipeline/deltas.js';
import type { ObjectStore } from '../../store/index.js';
import { type ChromaCollectionInfo, ChromaDirectory } from './reader.js';

export interface ImportChromaOptions {
  /** Import only this Chroma collection (by name). */
  collection?: string;
  /** Strata collection name (default: the Chroma name). With several collections, all go into it. */
  into?: string;
  /** Operations per delta (default 10,000). */
  batch?: number;
  quantization?: Quantization;
  producer?: string;
  onProgress?: (e: { collection: string; records: number; total: number }) => void;
}

export interface ImportedCollection {
  chroma: Pick<ChromaIdentity, 'id' | 'name' | 'tenant' | 'database'> & { space: ChromaSpace };
  collection: string;
  records: number;
  fromIndex: number;
  fromLog: number;
  indexSeq: number;
  metadataSeq: number;
  deltas: DeltaDescriptor[];
}

export interface ImportChromaReport {
  dir: string;
  collections: ImportedCollection[];
  /** Collections without any vector (no dimension known): nothing to import. */
  skipped: Array<{ name: string; reason: string }>;
}

export async function importChroma(
  store: ObjectStore,
  dir: string,
  opts: ImportChromaOptions = {},
): Promise<ImportChromaReport> {
  const batch = opts.batch ?? 10_000;
  if (!Number.isInteger(batch) || batch < 1)
    throw new UsageError(`batch must be a positive integer, got ${batch}`);
  using chroma = ChromaDirectory.open(dir);
  let infos = chroma.collections();
  if (opts.collection !== undefined) {
    infos = infos.filter((c) => c.name === opts.collection);
    if (infos.length === 0) {
      throw new StrataError(
        ErrorCodes.COLLECTION_NOT_FOUND,
        `${chroma.dir} has no Chroma collection ${opts.collection}`,
        {
          collection: opts.collection,
          file: chroma.dir,
        },
      );
    }
  }
  const skipped: ImportChromaReport['skipped'] = [];
  const selected: ChromaCollectionInfo[] = [];
  for (const c of infos) {
    if (c.dimension === null)
      skipped.push({ name: c.name, reason: 'no vector was ever added (dimension unknown)' });
    else selected.push(c);
  }
  const targets = new Map<string, ChromaCollectionInfo>();
  for (const c of selected) {
    const target = validateName(
      opts.into ?? c.name,
      `Strata collection name for Chroma collection ${JSON.stringify(c.name)} (use --into)`,
    );
    const prior = targets.get(target);
    if (prior && opts.into === undefined) {
      throw new UsageError(
        `Chroma collections ${prior.tenant}/${prior.database}/${prior.name} and ${c.tenant}/${c.database}/${c.name} would both become ${target}; import them one at a time with --collection and --into`,
      );
    }
    if (prior && (prior.dimension !== c.dimension || prior.space !== c.space)) {
      throw new UsageError(
        `Chroma collections ${prior.name} and ${c.name} differ in dimension or space and cannot both go into ${target}`,
      );
    }
    targets.set(`${target}\u0000${c.id}`, c);
  }

  // read and validate everything first: never import half a directory
  const loaded: Array<{
    info: ChromaCollectionInfo;
    target: string;
    plan: ReturnType<ChromaDirectory['plan']>;
    batches: UpsertOp[][];
  }> = [];
  for (const [key, info] of targets) {
    const plan = chroma.plan(info);
    const batches = [...chroma.records(plan, batch)];
    loaded.push({ info, target: key.slice(0, key.indexOf('\u0000')), plan, batches });
  }
  chroma.assertUnchanged();

  const source = basename(chroma.dir);
  const collections: ImportedCollection[] = [];
  for (const { info, target, plan, batches } of loaded) {
    const metric = METRIC_OF_SPACE[info.space];
    const chromaIdentity: ChromaIdentity = {
      id: info.id,
      tenant: info.tenant,
      database: info.database,
      name: info.name,
      metadata: info.metadata,
      // Chroma's own configuration as it stored it (what its clients read back), or the space alone.
      configuration:
        info.configuration !== null && typeof info.configuration === 'object'
          ? (info.configuration as Record<string, unknown>)
          : { hnsw: { space: info.space } },
      metric,
      createdAt: new Date().toISOString(),
    };
    const config = await createCollection(store, {
      name: target,
      dimension: info.dimension!,
      metric,
      quantization: opts.quantization ?? 'f16',
      getOrCreate: true,
      extra: { chroma: chromaIdentity },
    });
    const deltas: DeltaDescriptor[] = [];
    let done = 0;
    for (const ops of batches) {
      deltas.push(
        await acceptDelta(store, config, ops, {
          producer: opts.producer ?? 'strata-import-chroma',
          source: `chroma:${source}/${info.name}`,
        }),
      );
      done += ops.length;
      opts.onProgress?.({ collection: target, records: done, total: plan.count });
    }
    collections.push({
      chroma: {
        id: info.id,
        name: info.name,
        tenant: info.tenant,
        database: info.database,
        space: info.space,
      },
      collection: target,
      records: plan.count,
      fromIndex: plan.fromIndex,
      fromLog: plan.fromLog,
      indexSeq: plan.indexSeq,
      metadataSeq: plan.metadataSeq,
      deltas,
    });
  }
  return { dir: chroma.dir, collections, skipped };
}
