/**
 * Operator endpoints: /strata/v1/status (collections, served and current snapshots, ledger counts, last
 * runs), /strata/v1/snapshots, /strata/v1/runs/{id}, POST /strata/v1/compact (compact now; a write), and
 * /metrics in the Prometheus text format. Reads need the token when the server requires it for reads.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, NotFoundError, StrataError } from '../core/errors.js';
import { getCollection, listCollections } from '../pipeline/collections.js';
import { readLedger } from '../pipeline/ledger.js';
import { pointerTarget } from '../pipeline/pointer.js';
import { listRuns, readRunRecord } from '../pipeline/runs.js';
import { asBody } from './chroma-codec.js';
import type { ServerContext } from './context.js';

export function registerStrataApi(app: FastifyInstance, ctx: ServerContext): void {
  const read = (h: Parameters<typeof ctx.auth.check>[0]) => ctx.auth.check(h, 'read');

  app.get('/metrics', async (req, reply) => {
    read(req.headers);
    ctx.metrics.draining.set(ctx.snapshots.draining);
    for (const c of ctx.tails?.collections() ?? []) {
      const t = ctx.tails!.get(c)!;
      ctx.metrics.tailRecords.set({ collection: c }, t.records);
      ctx.metrics.tailBytes.set({ collection: c }, t.bytes);
      ctx.metrics.tailAge.set({ collection: c }, t.oldestAgeMs() / 1000);
    }
    for (const c of ctx.snapshots.collections()) {
      const s = ctx.snapshots.current(c);
      if (s) ctx.metrics.segmentsServed.set({ collection: c }, s.manifest.segments.length);
    }
    return reply.type(ctx.metrics.contentType).send(await ctx.metrics.render());
  });

  app.get('/strata/v1/status', async (req) => {
    read(req.headers);
    await ctx.catalog.reload();
    const collections = [];
    for (const e of ctx.catalog.entries()) {
      const served = ctx.snapshots.current(e.strata);
      const base = {
        collection: e.strata,
        chroma: {
          id: e.chroma.id,
          tenant: e.chroma.tenant,
          database: e.chroma.database,
          name: e.chroma.name,
        },
        dimension: e.config?.dimension ?? null,
        metric: e.config?.metric ?? e.chroma.metric,
        served: served
          ? {
              version: served.version,
              records: served.view.count,
              segments: served.view.parts.length,
              openMs: Math.round(served.openMs),
            }
          : null,
        tail: ctx.tails?.get(e.strata)
          ? {
              records: ctx.tails.get(e.strata)!.records,
              bytes: ctx.tails.get(e.strata)!.bytes,
              deltas: ctx.tails.get(e.strata)!.deltas,
              ageMs: Math.round(ctx.tails.get(e.strata)!.oldestAgeMs()),
              limits: ctx.tails.limits,
            }
          : null,
      };
      if (!e.config) {
        collections.push({
          ...base,
          state: 'pending-first-write',
          current: null,
          ledger: null,
          lastRuns: [],
        });
        continue;
      }
      const ledger = await readLedger(ctx.store, e.strata);
      const p = ledger.pointer?.value;
      collections.push({
        ...base,
        state: 'ready',
        current: p
          ? {
              version: p.version,
              snapshot: pointerTarget(p),
              segments: ledger.manifest?.segments.length ?? 0,
              count: p.count,
              publishedAt: p.publishedAt,
              run: p.run,
            }
          : null,
        ledger: ledger.counts,
        lastRuns: (await listRuns(ctx.store, e.strata, 5)).map((r) => ({
          run: r.run,
          status: r.status,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          snapshot: r.snapshot?.version,
        })),
      });
    }
    return {
      store: ctx.store.url,
      swaps: ctx.snapshots.swaps,
      draining: ctx.snapshots.draining,
      compactionRuns: ctx.compactor.runs,
      writesEnabled: ctx.auth.writesEnabled,
      collections,
    };
  });

  app.get('/strata/v1/snapshots', async (req) => {
    read(req.headers);
    const out = [];
    for (const c of await listCollections(ctx.store)) {
      const ledger = await readLedger(ctx.store, c);
      const p = ledger.pointer?.value;
      out.push({
        collection: c,
        served: ctx.snapshots.current(c)?.version ?? null,
        current: p
          ? {
              version: p.version,
              snapshot: pointerTarget(p),
              segments: ledger.manifest?.segments.length ?? 0,
              count: p.count,
              contentHash: p.contentHash,
              publishedAt: p.publishedAt,
            }
          : null,
        retained: p?.retained ?? [],
      });
    }
    return { collections: out };
  });

  app.get<{ Params: { id: string } }>('/strata/v1/runs/:id', async (req) => {
    read(req.headers);
    const id = req.params.id;
    if (!/^r[0-9TZ]+-[0-9a-f]+$/.test(id))
      throw new StrataError(ErrorCodes.USAGE, `not a run id: ${JSON.stringify(id)}`);
    for (const c of await listCollections(ctx.store)) {
      const r = await readRunRecord(ctx.store, c, id);
      if (r) return r;
    }
    throw new NotFoundError(`no run ${id}`, { run: id });
  });

  app.post('/strata/v1/compact', async (req) => {
    ctx.auth.check(req.headers, 'write');
    const body = asBody(req.body);
    const only =
      typeof body.collection === 'string'
        ? [(await getCollection(ctx.store, body.collection)).name]
        : undefined;
    const reports = await ctx.compactor.runOnce(only);
    return { reports };
  });
}
