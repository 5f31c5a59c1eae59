/** init, ingest: getting data into a store. */
import { basename } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { Metric, Quantization } from '../../core/types.js';
import { readProducerFile } from '../../ingest/index.js';
import { chromaDirectoriesIn, importChroma } from '../../interop/chroma/index.js';
import { createCollection, findCollection } from '../../pipeline/collections.js';
import { acceptDelta, type DeltaDescriptor } from '../../pipeline/deltas.js';
import { type CliContext, parseIntOption } from '../context.js';

type Ctx = () => CliContext;

export function registerData(program: Command, ctx: Ctx): void {
  program
    .command('init')
    .description('create a store (and optionally a collection)')
    .option('-c, --collection <name>', 'also create this collection')
    .option('--dimension <n>', 'vector dimension of the collection', parseIntOption('--dimension', 1, 65536))
    .option('--metric <metric>', 'cos | l2sq | ip', 'cos')
    .option('--quantization <q>', 'ANN index scalars: f16 | f32', 'f16')
    .action(
      async (o: { collection?: string; dimension?: number; metric: Metric; quantization: Quantization }) => {
        const c = ctx();
        const store = await c.openStore();
        try {
          let config = null;
          if (o.collection) {
            if (!o.dimension) throw new UsageError('--dimension is required with --collection');
            config = await createCollection(store, {
              name: o.collection,
              dimension: o.dimension,
              metric: o.metric,
              quantization: o.quantization,
            });
          }
          c.out({ store: store.url, collection: config }, () =>
            config
              ? `store ${store.url}: created collection ${config.name} (${config.dimension}-d, ${config.metric}, ${config.quantization})`
              : `store ${store.url} ready`,
          );
        } finally {
          await store.close();
        }
      },
    );

  program
    .command('ingest')
    .description(
      'validate files of operations and accept them as deltas (NDJSON, OpenAI batch output, Arrow)',
    )
    .argument('<files...>', 'input files (or Chroma persistent directories, or folders of them)')
    .requiredOption('-c, --collection <name>', 'target collection')
    .option('--format <format>', 'auto | ndjson | openai | arrow', 'auto')
    .option('--documents <file>', 'documents/metadata NDJSON to join with OpenAI batch output')
    .option(
      '--dimension <n>',
      'create the collection with this dimension if missing (default: inferred)',
      parseIntOption('--dimension', 1, 65536),
    )
    .option('--metric <metric>', 'metric when creating the collection', 'cos')
    .option('--quantization <q>', 'index quantization when creating the collection', 'f16')
    .option('--batch <n>', 'at most this many operations per delta', parseIntOption('--batch'), 10_000)
    .action(
      async (
        files: string[],
        o: {
          collection: string;
          format: 'auto';
          documents?: string;
          dimension?: number;
          metric: Metric;
          quantization: Quantization;
          batch: number;
        },
      ) => {
        const c = ctx();
        const store = await c.openStore();
        try {
          let config = await findCollection(store, o.collection);
          const accepted: DeltaDescriptor[] = [];
          c.progress.stage('ingest', files.length);
          for (const [i, file] of files.entries()) {
            // a Chroma persistent directory, or a folder of them: imported read-only into this collection
            const chromaDirs = chromaDirectoriesIn(file);
            if (chromaDirs) {
              for (const dir of chromaDirs) {
                const r = await importChroma(store, dir, {
                  into: o.collection,
                  batch: o.batch,
                  quantization: o.quantization,
                  producer: 'strata-cli',
                });
                for (const col of r.collections) accepted.push(...col.deltas);
              }
              config ??= await findCollection(store, o.collection);
              c.progress.tick('ingest', i + 1, files.length);
              continue;
            }
            const dimension = config?.dimension ?? o.dimension ?? (await inferDimension(file));
            const ops = await readProducerFile(file, {
              dimension,
              format: o.format,
              ...(o.documents ? { documents: o.documents } : {}),
            });
            config ??= await createCollection(store, {
              name: o.collection,
              dimension,
              metric: o.metric,
              quantization: o.quantization,
              getOrCreate: true,
            });
            for (let s = 0; s < ops.length; s += o.batch) {
              accepted.push(
                await acceptDelta(store, config, ops.slice(s, s + o.batch), {
                  source: basename(file),
                  producer: 'strata-cli',
                }),
              );
            }
            c.progress.tick('ingest', i + 1, files.length);
          }
          c.progress.done();
          const ops = accepted.reduce((n, d) => n + d.count, 0);
          c.out(
            { collection: o.collection, deltas: accepted, operations: ops },
            () =>
              `accepted ${accepted.length} delta(s), ${ops} operations into ${o.collection} (pending until the next compaction)`,
          );
        } finally {
          await store.close();
        }
      },
    );
}

/** Reads the first upsert of a file to learn the dimension of a collection that does not exist yet. */
async function inferDimension(file: string): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const text = (await readFile(file)).subarray(0, 4 << 20).toString('utf8');
  const line = text.split('\n').find((l) => l.includes('embedding'));
  if (line) {
    try {
      const o = JSON.parse(line) as {
        embedding?: unknown;
        response?: { body?: { data?: Array<{ embedding?: unknown }> } };
      };
      const e = o.embedding ?? o.response?.body?.data?.[0]?.embedding;
      if (Array.isArray(e)) return e.length;
      if (typeof e === 'string') return Buffer.from(e, 'base64').byteLength / 4;
    } catch {
      /* fall through */
    }
  }
  throw new UsageError(`cannot infer the dimension from ${file}; pass --dimension`, { file });
}
