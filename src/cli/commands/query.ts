import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ErrorCodes, StrataError, UsageError } from '../../core/errors.js';
import { openCurrentVersion } from '../../pipeline/current.js';
import { validateWhere, validateWhereDocument } from '../../query/index.js';
import { type CliContext, parseIntOption } from '../context.js';

function parseJsonOption(name: string, v: string | undefined): unknown {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    throw new UsageError(`${name} is not valid JSON: ${v}`);
  }
}

export function registerQuery(program: Command, ctx: () => CliContext): void {
  program
    .command('query')
    .description('k-NN query against the current version')
    .requiredOption('-c, --collection <name>', 'collection')
    .option(
      '--vector <file>',
      'query vector: a JSON array (or NDJSON lines with "embedding") in a file, "-" for stdin',
    )
    .option('--id <id>', "use this record's own vector as the query")
    .option('-k, --k <n>', 'neighbours', parseIntOption('-k', 1, 10_000), 10)
    .option('--where <json>', 'metadata filter (Chroma syntax), e.g. \'{"category":{"$eq":"fuel"}}\'')
    .option('--where-document <json>', 'document filter, e.g. \'{"$contains":"COFFEE"}\'')
    .option('--ef <n>', 'search expansion', parseIntOption('--ef'))
    .option('--exact', 'exact search (no index), for comparison')
    .action(
      async (o: {
        collection: string;
        vector?: string;
        id?: string;
        k: number;
        where?: string;
        whereDocument?: string;
        ef?: number;
        exact?: boolean;
      }) => {
        const c = ctx();
        if (!o.vector === !o.id) throw new UsageError('give exactly one of --vector FILE or --id ID');
        const where = validateWhere(parseJsonOption('--where', o.where));
        const whereDocument = validateWhereDocument(parseJsonOption('--where-document', o.whereDocument));
        const store = await c.openStore();
        try {
          await using v = await openCurrentVersion(store, o.collection);
          const pointer = v.pointer;
          let queries: Float32Array[];
          if (o.id) {
            const row = v.get([o.id]).get(o.id);
            if (!row?.embedding)
              throw new StrataError(ErrorCodes.NOT_FOUND, `no record ${o.id} in version ${pointer.version}`, {
                collection: o.collection,
                id: o.id,
              });
            queries = [row.embedding];
          } else {
            const text = (o.vector === '-' ? await readStdin() : await readFile(o.vector!))
              .toString('utf8')
              .trim();
            queries = parseVectors(text);
          }
          const dimension = v.view.dimension;
          const results = queries.map((q) => {
            if (q.length !== dimension) {
              throw new UsageError(`query has ${q.length} dimensions, the collection has ${dimension}`);
            }
            const t0 = performance.now();
            const r = v.search(q, o.k, {
              where,
              whereDocument,
              ef: o.ef,
              ...(o.exact ? { exactBelow: Number.MAX_SAFE_INTEGER } : {}),
            });
            const ms = performance.now() - t0;
            const rows = v.get(r.hits.map((h) => h.id));
            return {
              plan: {
                strategy: [...new Set(r.plan.strategies)].join('+') || 'none',
                segments: r.plan.strategies.length,
                matching: r.plan.matching,
              },
              ms: Math.round(ms * 1000) / 1000,
              hits: r.hits.map((h) => ({
                id: h.id,
                distance: h.distance,
                document: rows.get(h.id)?.document ?? null,
                metadata: rows.get(h.id)?.metadata ?? null,
              })),
            };
          });
          c.out({ collection: o.collection, version: pointer.version, results }, () =>
            results
              .map(
                (r, i) =>
                  `query ${i} (${r.plan.strategy}, ${r.ms} ms):\n${r.hits.map((h, j) => `  ${String(j + 1).padStart(3)}. ${h.distance.toFixed(5)}  ${h.id}${h.document ? `  "${String(h.document).slice(0, 60)}"` : ''}`).join('\n')}`,
              )
              .join('\n'),
          );
        } finally {
          await store.close();
        }
      },
    );
}

function parseVectors(text: string): Float32Array[] {
  const toVec = (v: unknown): Float32Array => {
    const e = Array.isArray(v) ? v : (v as { embedding?: unknown })?.embedding;
    if (!Array.isArray(e) || !e.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new UsageError(
        'a query vector must be a JSON array of finite numbers (or an object with "embedding")',
      );
    }
    return Float32Array.from(e as number[]);
  };
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v) && v.length > 0 && Array.isArray(v[0])) return v.map(toVec);
    return [toVec(v)];
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => toVec(JSON.parse(l)));
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
