/**
 * The Console's views of the store, built from the pipeline's own records (the ledger, the pointer and
 * its retained snapshots' manifests, run records and step journals). Each view reads only what it shows;
 * ledgers are read through a per-collection cache of the objects that never change (LedgerCache).
 */
import { CollectionError, ErrorCodes, UsageError } from '../../core/errors.js';
import type { VersionManifest } from '../../core/version-manifest.js';
import { readJson } from '../../pipeline/json-object.js';
import type { LeaseRecord } from '../../pipeline/lease.js';
import { type Ledger, type LedgerCache, newLedgerCache, readLedger } from '../../pipeline/ledger.js';
import { planMerges } from '../../pipeline/merges.js';
import { pointerTarget, type RetainedVersion } from '../../pipeline/pointer.js';
import { listRuns, type RunRecord, readRunRecord } from '../../pipeline/runs.js';
import { journalPrefix, type StepRecord } from '../../pipeline/step-journal.js';
import { readVersion } from '../../pipeline/versions.js';
import type { ObjectStore } from '../../store/index.js';
import type { CatalogEntry } from '../catalog.js';
import type { ServerContext } from '../context.js';
import type { RecallState } from '../recall-watch.js';
import { runSummary, stepView } from './events.js';
import type {
  CollectionDetail,
  DeltaPage,
  DeltaState,
  DeltaView,
  LeaseView,
  Overview,
  OverviewCollection,
  RunDetail,
  RunSummary,
  StepView,
  VersionView,
} from './wire.js';

/** Caches the Console keeps across requests (immutable objects only). */
export class ViewCache {
  readonly #ledgers = new Map<string, LedgerCache>();
  /** Version manifests by key: a version manifest is written once. */
  readonly #manifests = new Map<string, VersionManifest>();

  ledger(collection: string): LedgerCache {
    let c = this.#ledgers.get(collection);
    if (!c) {
      c = newLedgerCache();
      this.#ledgers.set(collection, c);
    }
    return c;
  }

  async manifest(
    store: ObjectStore,
    collection: string,
    r: RetainedVersion,
  ): Promise<VersionManifest | undefined> {
    const key = pointerTarget(r);
    const hit = this.#manifests.get(key);
    if (hit) return hit;
    try {
      const { manifest } = await readVersion(
        store,
        {
          version: r.version,
          manifest: r.manifest,
          snapshot: r.snapshot,
          manifestSha256: r.manifestSha256 ?? '',
        },
        collection,
      );
      if (this.#manifests.size > 2_000) this.#manifests.clear();
      this.#manifests.set(key, manifest);
      return manifest;
    } catch {
      return undefined; // collected by GC
    }
  }

  forget(collection: string): void {
    this.#ledgers.delete(collection);
    this.#lastRuns.delete(collection);
  }

  readonly #lastRuns = new Map<string, { leaseEtag: string; run: RunSummary | null }>();

  /**
   * A collection's newest run. Runs start and finish under the collection's lease, and the lease object
   * changes when it is taken, heartbeaten and released, so while its etag is the one seen with the cached
   * answer, no run has started or finished since (listing runs/ lists every step output of every run).
   */
  async lastRun(
    store: ObjectStore,
    collection: string,
    leaseEtag: string | undefined,
  ): Promise<RunSummary | null> {
    const hit = this.#lastRuns.get(collection);
    if (hit && leaseEtag !== undefined && hit.leaseEtag === leaseEtag) return hit.run;
    const runs = await listRuns(store, collection, 1);
    const run = runs[0] ? runSummary(runs[0]) : null;
    if (leaseEtag !== undefined) this.#lastRuns.set(collection, { leaseEtag, run });
    return run;
  }

  readonly #steps = new Map<string, { stamp: string; step: StepRecord }>();

  /** A run's step journal; records whose object is unchanged (size, time) are not read again. */
  async journal(store: ObjectStore, collection: string, run: string): Promise<StepRecord[]> {
    const objs = await store.list(journalPrefix(collection, run));
    const out: StepRecord[] = [];
    const toRead: Array<{ key: string; stamp: string }> = [];
    for (const o of objs) {
      const stamp = `${o.size}/${o.lastModified?.getTime() ?? Math.random()}`;
      const hit = this.#steps.get(o.key);
      if (hit && hit.stamp === stamp) out.push(hit.step);
      else toRead.push({ key: o.key, stamp });
    }
    const width = 32;
    for (let i = 0; i < toRead.length; i += width) {
      const slice = toRead.slice(i, i + width);
      const got = await Promise.all(slice.map((x) => readJson<StepRecord>(store, x.key)));
      for (const [j, g] of got.entries()) {
        if (!g) continue;
        out.push(g.value);
        this.#steps.set(slice[j]!.key, { stamp: slice[j]!.stamp, step: g.value });
      }
    }
    if (this.#steps.size > 50_000) this.#steps.clear();
    return out.sort((a, b) => a.submittedAt.localeCompare(b.submittedAt) || a.step.localeCompare(b.step));
  }

  #catalogReload: Promise<void> | undefined;
  #overview: Promise<Overview> | undefined;

  /**
   * The catalog for the Console's views. Reloading it lists the whole store (every delta, snapshot and
   * run file: seconds on a large local store), so a view answers from a catalog up to `staleMs` old and
   * reloads it in the background after `freshMs` (a collection made by another process shows up within
   * a minute; one made through this server's Chroma API at once); an older or never loaded catalog is
   * waited for.
   */
  async catalog(ctx: ServerContext, freshMs = 60_000, staleMs = 600_000): Promise<void> {
    const reload = () => {
      this.#catalogReload ??= ctx.catalog.reload().finally(() => {
        this.#catalogReload = undefined;
      });
      return this.#catalogReload;
    };
    const age = Date.now() - ctx.catalog.loadedAt;
    if (ctx.catalog.loadedAt === 0 || age > staleMs) await reload();
    else if (age > freshMs) void reload().catch(() => undefined);
  }

  /** The overview; concurrent callers share one build. */
  overview(ctx: ServerContext): Promise<Overview> {
    this.#overview ??= buildOverview(ctx, this).finally(() => {
      this.#overview = undefined;
    });
    return this.#overview;
  }
}

/** Runs `fn` over items with at most `width` in flight, results in order. */
async function mapLimit<T, R>(items: T[], width: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

const emptyCounts = (): Record<DeltaState, number> => ({
  pending: 0,
  compacting: 0,
  promoted: 0,
  quarantined: 0,
  'rolled-back': 0,
});

function leaseView(l: LeaseRecord | undefined): LeaseView | null {
  if (!l) return null;
  return {
    owner: l.owner,
    token: l.token,
    acquiredAt: l.acquiredAt,
    expiresAt: l.expiresAt,
    live: !l.released && l.expiresAt > Date.now(),
  };
}

function freshnessLag(ledger: Ledger, now: number): number {
  let oldest = Number.POSITIVE_INFINITY;
  for (const e of ledger.entries) {
    if (e.state !== 'pending') continue;
    const t = Date.parse(e.acceptedAt);
    if (t < oldest) oldest = t;
  }
  return Number.isFinite(oldest) ? Math.max(0, now - oldest) : 0;
}

const recallView = (s: RecallState | undefined) => (s ? { ...s } : null);

const bytesOf = (m: VersionManifest | undefined) => (m ? m.segments.reduce((n, s) => n + s.bytes, 0) : null);

const tailView = (ctx: ServerContext, collection: string) => {
  const t = ctx.tails?.get(collection);
  return t
    ? { records: t.records, deltas: t.deltas, bytes: t.bytes, ageMs: Math.round(t.oldestAgeMs()) }
    : null;
};

async function overviewRow(ctx: ServerContext, cache: ViewCache, e: CatalogEntry, now: number) {
  const chroma = { tenant: e.chroma.tenant, database: e.chroma.database, name: e.chroma.name };
  const served = ctx.snapshots.current(e.strata);
  const base = {
    collection: e.strata,
    chroma,
    served: served ? { version: served.version, records: served.view.count } : null,
    tail: tailView(ctx, e.strata),
    recall: recallView(ctx.recall.state(e.strata)),
  };
  if (!e.config) {
    const row: OverviewCollection = {
      ...base,
      state: 'pending-first-write',
      dimension: null,
      metric: e.chroma.metric,
      version: null,
      records: 0,
      publishedAt: null,
      segments: 0,
      ledger: emptyCounts(),
      freshnessLagMs: 0,
      lease: null,
      lastRun: null,
    };
    return row;
  }
  const ledger = await readLedger(ctx.store, e.strata, { cache: cache.ledger(e.strata) });
  const lease = ledger.lease?.value;
  const lastRun = await cache.lastRun(ctx.store, e.strata, ledger.lease?.etag);
  const p = ledger.pointer?.value;
  const row: OverviewCollection = {
    ...base,
    state: 'ready',
    dimension: e.config.dimension,
    metric: e.config.metric,
    version: p?.version ?? null,
    records: p?.count ?? 0,
    publishedAt: p?.publishedAt ?? null,
    segments: ledger.manifest?.segments.length ?? 0,
    ledger: ledger.counts,
    freshnessLagMs: freshnessLag(ledger, now),
    lease: leaseView(lease),
    lastRun,
  };
  return row;
}

async function buildOverview(ctx: ServerContext, cache: ViewCache): Promise<Overview> {
  await cache.catalog(ctx);
  const now = Date.now();
  const entries = ctx.catalog.entries().sort((a, b) => a.strata.localeCompare(b.strata));
  const collections = await mapLimit(entries, 8, (e) => overviewRow(ctx, cache, e, now));
  const totals = { ...emptyCounts(), collections: collections.length, records: 0 };
  for (const c of collections) {
    totals.records += c.records;
    for (const k of Object.keys(c.ledger) as DeltaState[]) totals[k] += c.ledger[k];
  }
  return {
    store: ctx.store.url,
    now,
    writesEnabled: ctx.auth.writesEnabled,
    readsNeedToken: ctx.auth.readsNeedToken,
    recallSample: ctx.recall.sample,
    collections,
    totals,
  };
}

export async function entryOf(ctx: ServerContext, name: string): Promise<CatalogEntry> {
  let e = ctx.catalog.byStrata(name);
  if (!e) {
    await ctx.catalog.reload();
    e = ctx.catalog.byStrata(name);
  }
  if (!e) {
    throw new CollectionError(ErrorCodes.COLLECTION_NOT_FOUND, `collection ${name} does not exist`, {
      collection: name,
    });
  }
  return e;
}

export async function buildCollection(
  ctx: ServerContext,
  cache: ViewCache,
  name: string,
): Promise<CollectionDetail> {
  const e = await entryOf(ctx, name);
  const served = ctx.snapshots.current(e.strata);
  const chroma = {
    tenant: e.chroma.tenant,
    database: e.chroma.database,
    name: e.chroma.name,
    id: e.chroma.id,
    metadata: e.chroma.metadata,
  };
  const base = {
    collection: e.strata,
    chroma,
    served: served
      ? { version: served.version, records: served.view.count, openMs: Math.round(served.openMs) }
      : null,
    tail: tailView(ctx, e.strata),
    recall: recallView(ctx.recall.state(e.strata)),
    writesEnabled: ctx.auth.writesEnabled,
  };
  if (!e.config) {
    return {
      ...base,
      config: null,
      current: null,
      ledger: emptyCounts(),
      freshnessLagMs: 0,
      lease: null,
      versions: [],
    };
  }
  const { extra: _extra, name: _name, ...config } = e.config;
  const [ledger, runs] = await Promise.all([
    readLedger(ctx.store, e.strata, { cache: cache.ledger(e.strata) }),
    listRuns(ctx.store, e.strata, 50),
  ]);
  const lease = ledger.lease?.value;
  const p = ledger.pointer?.value;
  const manifest = ledger.manifest;
  const runsById = new Map(runs.map((r) => [r.run, r]));
  const versions: VersionView[] = [];
  const seen = new Set<number>();
  const promotedBy = (m: VersionManifest | undefined, version: number) =>
    m ? m.promoted.filter((r) => r[2] === version).length : null;
  const describe = (m: VersionManifest | undefined) => ({
    build: m?.cause ?? null,
    ...(m?.restores !== undefined ? { restores: m.restores } : {}),
    parentVersion: m?.parentVersion ?? null,
    bytes: bytesOf(m),
    ...(m ? { segments: m.segments.length } : {}),
  });
  if (p) {
    versions.push({
      version: p.version,
      current: true,
      retained: true,
      snapshot: pointerTarget(p),
      publishedAt: p.publishedAt,
      run: p.run,
      records: p.count,
      promotedDeltas: runsById.get(p.run)?.deltas.length ?? promotedBy(manifest, p.version),
      ...describe(manifest),
    });
    seen.add(p.version);
    const retained = await mapLimit(p.retained, 4, async (r) => ({
      r,
      m: await cache.manifest(ctx.store, e.strata, r),
    }));
    for (const { r, m } of retained) {
      const run = m?.run || null;
      versions.push({
        version: r.version,
        current: false,
        retained: true,
        snapshot: pointerTarget(r),
        publishedAt: run ? (runsById.get(run)?.finishedAt ?? m?.createdAt ?? null) : (m?.createdAt ?? null),
        retiredAt: r.retiredAt,
        run,
        records: m?.count ?? null,
        promotedDeltas: (run ? runsById.get(run)?.deltas.length : undefined) ?? promotedBy(m, r.version),
        ...describe(m),
      });
      seen.add(r.version);
    }
  }
  // Older versions: known from their runs' records only (their manifests are no longer reachable).
  for (const r of runs) {
    for (const m of r.merges ?? []) {
      if (m.version === undefined || seen.has(m.version)) continue;
      seen.add(m.version);
      versions.push({
        version: m.version,
        current: false,
        retained: false,
        snapshot: null,
        publishedAt: r.finishedAt ?? null,
        run: r.run,
        records: null,
        build: 'merge',
        parentVersion: null,
        promotedDeltas: 0,
        bytes: null,
      });
    }
    if (!r.snapshot || seen.has(r.snapshot.version)) continue;
    seen.add(r.snapshot.version);
    versions.push({
      version: r.snapshot.version,
      current: false,
      retained: false,
      snapshot: r.snapshot.prefix,
      publishedAt: r.finishedAt ?? null,
      run: r.run,
      records: r.snapshot.count,
      build: r.kind === 'merge' ? 'merge' : 'publish',
      parentVersion: null,
      promotedDeltas: r.deltas.length,
      bytes: null,
    });
  }
  versions.sort((a, b) => b.version - a.version);
  return {
    ...base,
    config,
    current:
      p && manifest
        ? {
            version: p.version,
            snapshot: pointerTarget(p),
            records: p.count,
            publishedAt: p.publishedAt,
            run: p.run,
            contentHash: p.contentHash,
            bytes: bytesOf(manifest) ?? 0,
            indexed: manifest.segments.some((x) => x.indexed),
            build: manifest.cause,
          }
        : null,
    segments: (manifest?.segments ?? []).map((x) => ({
      segment: x.manifestSha256,
      rows: x.rows,
      superseded: x.deleted,
      bytes: x.bytes,
      indexed: x.indexed,
    })),
    pendingMerges: manifest && p?.manifest ? planMerges(manifest, 'auto').length : 0,
    ledger: ledger.counts,
    freshnessLagMs: freshnessLag(ledger, Date.now()),
    lease: leaseView(lease),
    versions,
  };
}

export interface DeltaQuery {
  state?: string;
  from?: string;
  to?: string;
  offset?: string;
  limit?: string;
}

const STATES = new Set<DeltaState>(['pending', 'compacting', 'promoted', 'rolled-back', 'quarantined']);

function intParam(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} must be an integer in ${min}..${max}`);
  return n;
}

export async function buildDeltas(
  ctx: ServerContext,
  cache: ViewCache,
  name: string,
  q: DeltaQuery,
): Promise<DeltaPage> {
  const e = await entryOf(ctx, name);
  const states = (q.state ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of states)
    if (!STATES.has(s as DeltaState))
      throw new UsageError(
        `unknown delta state ${JSON.stringify(s)} (pending, compacting, promoted, rolled-back, quarantined)`,
      );
  const from = intParam(q.from, 'from', 0, Number.MAX_SAFE_INTEGER);
  const to = intParam(q.to, 'to', 0, Number.MAX_SAFE_INTEGER);
  const offset = intParam(q.offset, 'offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const limit = intParam(q.limit, 'limit', 1, 1_000) ?? 100;
  if (!e.config) {
    return { collection: e.strata, total: 0, matching: 0, counts: emptyCounts(), offset, limit, deltas: [] };
  }
  const lc = cache.ledger(e.strata);
  const ledger = await readLedger(ctx.store, e.strata, { cache: lc });
  const quarantine = new Map([...lc.quarantine.values()].map((r) => [r.seqStart, r]));
  const matching = ledger.entries.filter(
    (d) =>
      (states.length === 0 || states.includes(d.state)) &&
      (from === undefined || d.seqEnd >= from) &&
      (to === undefined || d.seqStart <= to),
  );
  const deltas: DeltaView[] = matching.slice(offset, offset + limit).map((d) => {
    const qr = quarantine.get(d.seqStart);
    const file = d.error?.context.file;
    return {
      seqStart: d.seqStart,
      seqEnd: d.seqEnd,
      count: d.count,
      state: d.state,
      acceptedAt: d.acceptedAt,
      producer: d.producer,
      ...(d.source ? { source: d.source } : {}),
      key: d.key,
      size: d.size,
      ...(d.version !== undefined ? { version: d.version } : {}),
      ...(d.run ? { run: d.run } : {}),
      ...(d.state === 'quarantined' && d.error
        ? {
            quarantine: {
              code: d.error.code,
              message: d.error.message,
              ...(typeof file === 'string' ? { file } : {}),
              ...(qr?.chunk !== undefined ? { chunk: qr.chunk } : {}),
              ...(qr?.at ? { at: qr.at } : {}),
              context: d.error.context,
            },
          }
        : {}),
    };
  });
  return {
    collection: e.strata,
    total: ledger.entries.length,
    matching: matching.length,
    counts: ledger.counts,
    offset,
    limit,
    deltas,
  };
}

export async function buildRuns(
  ctx: ServerContext,
  cache: ViewCache,
  collection: string | undefined,
  limit: number,
): Promise<RunSummary[]> {
  const names = await runCollections(ctx, cache, collection);
  const lists = await mapLimit(names, 8, (c) => listRuns(ctx.store, c, limit));
  return lists
    .flat()
    .sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.run.localeCompare(a.run))
    .slice(0, limit)
    .map(runSummary);
}

/** Bars for a run without a step journal: its stages, from the run record's timings. */
function stagesOf(r: RunRecord): StepView[] {
  const t = r.timingsMs ?? {};
  const out: StepView[] = [];
  let at = Date.parse(r.startedAt) + (t.plan ?? 0);
  for (const [stage, kind] of [
    ['chunks', 'chunk'],
    ['groups', 'group'],
    ['final', 'final'],
    ['publish', 'publish'],
  ] as const) {
    const ms = t[stage];
    if (ms === undefined) continue;
    out.push({
      step: stage,
      kind,
      index: 0,
      status: 'succeeded',
      submittedAt: new Date(at).toISOString(),
      startedAt: new Date(at).toISOString(),
      finishedAt: new Date(at + ms).toISOString(),
      ms,
      attempts: 1,
      inputs: 0,
    });
    at += ms;
  }
  return out;
}

export async function buildRunDetail(
  ctx: ServerContext,
  cache: ViewCache,
  id: string,
  collection: string | undefined,
): Promise<RunDetail | undefined> {
  if (!/^r[0-9TZ]+-[0-9a-f]+$/.test(id)) throw new UsageError(`not a run id: ${JSON.stringify(id)}`);
  const names = await runCollections(ctx, cache, collection);
  for (const c of names) {
    const r = await readRunRecord(ctx.store, c, id);
    if (!r) continue;
    const journal = (await cache.journal(ctx.store, c, id)).map(stepView);
    const steps = journal.length ? journal : stagesOf(r);
    const publishMs = r.timingsMs?.publish;
    if (journal.length && publishMs !== undefined && r.finishedAt) {
      const finals = journal.filter((s) => s.kind === 'final' && s.finishedAt);
      const start = finals.length
        ? Date.parse(finals.at(-1)!.finishedAt!)
        : Date.parse(r.finishedAt) - publishMs;
      steps.push({
        step: 'publish',
        kind: 'publish',
        index: 0,
        status: r.status === 'failed' ? 'failed' : 'succeeded',
        submittedAt: new Date(start).toISOString(),
        startedAt: new Date(start).toISOString(),
        finishedAt: new Date(start + publishMs).toISOString(),
        ms: publishMs,
        attempts: 1,
        inputs: 1,
      });
    }
    return {
      ...runSummary(r),
      owner: r.owner,
      failures: (r.failures ?? []).map((f) => ({
        step: f.step,
        error: { code: f.error.code, message: f.error.message, context: f.error.context },
      })),
      steps,
      journal: journal.length > 0,
    };
  }
  return undefined;
}

/** The collections whose runs a view lists: the one named, or every collection with a config. */
async function runCollections(
  ctx: ServerContext,
  cache: ViewCache,
  collection: string | undefined,
): Promise<string[]> {
  if (collection) return [(await entryOf(ctx, collection)).strata];
  await cache.catalog(ctx);
  return ctx.catalog
    .entries()
    .filter((e) => e.config)
    .map((e) => e.strata);
}
