/**
 * The Console's HTTP side without a browser: static files (CSP, types, caching), the JSON views checked
 * against `strata status --json` and the pipeline's own functions, live events, actions and their auth,
 * the recall watch over the Chroma API, and /metrics on prom-client with every historical name.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compact } from '../../src/pipeline/compact.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { rollbackCollection } from '../../src/pipeline/rollback.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import type {
  CollectionDetail,
  ConsoleEvent,
  DeltaPage,
  Overview,
  RecallReport,
  RunDetail,
  RunSummary,
  SearchResponse,
  Series,
} from '../../src/server/console/wire.js';
import { runCli } from '../helpers/cli.js';
import { startTestServer, type TestServer, TOKEN } from '../server/helpers.js';
import { buildFixture, DIM, type Fixture, MAIN, SECOND, XSS_SCRIPT } from './fixture.js';

const DB = '/api/v2/tenants/default_tenant/databases/default_database';

async function json<T>(
  t: TestServer,
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) {
  const res = await t.call(method, path, body, headers);
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

/** Reads server-sent events until `until` accepts one (or the deadline passes). */
async function readEvents(url: string, until: (e: ConsoleEvent) => boolean, trigger: () => Promise<void>) {
  const c = new AbortController();
  const res = await fetch(`${url}/strata/v1/events`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: c.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const seen: ConsoleEvent[] = [];
  let buf = '';
  let triggered = false;
  const deadline = Date.now() + 60_000;
  try {
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trim())
          .join('');
        if (!data) continue;
        const e = JSON.parse(data) as ConsoleEvent;
        seen.push(e);
        if (e.type === 'hello' && !triggered) {
          triggered = true;
          await trigger();
        }
        if (until(e)) return seen;
      }
    }
    throw new Error(`the awaited event never came; saw ${seen.map((e) => e.type).join(', ')}`);
  } finally {
    c.abort();
  }
}

describe('Console API', () => {
  let t: TestServer;
  let f: Fixture;
  beforeAll(async () => {
    t = await startTestServer({ recallSample: 1, seriesEveryMs: 100, eventsPollMs: 200 });
    f = await buildFixture(t.store);
    // the fixture wrote behind the server's back: take the catalog refresh a server does on its own
    await t.server.ctx.catalog.reload();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('serves the Console with a strict CSP, the right types and cache headers; / redirects there', async () => {
    const root = await fetch(`${t.url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/console/');
    const bare = await fetch(`${t.url}/console`, { redirect: 'manual' });
    expect(bare.headers.get('location')).toBe('/console/');
    const index = await fetch(`${t.url}/console/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const csp = index.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await index.text();
    // no inline script, nothing from another origin
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const etag = index.headers.get('etag')!;
    expect((await fetch(`${t.url}/console/`, { headers: { 'if-none-match': etag } })).status).toBe(304);
    const js = /src="\.\/(assets\/app-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    const css = /href="\.\/(assets\/app-[A-Z0-9]+\.css)"/.exec(html)![1]!;
    const jsRes = await fetch(`${t.url}/console/${js}`);
    expect(jsRes.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(jsRes.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    const bundle = await jsRes.text();
    expect(bundle).not.toMatch(/https?:\/\/(?!www\.w3\.org)[a-z0-9.-]+\.[a-z]{2,}\//i);
    expect((await fetch(`${t.url}/console/${css}`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
    expect((await fetch(`${t.url}/console/..%2F..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${t.url}/console/assets/nope.js`)).status).toBe(404);
  });

  it('answers 503 with a hint when the Console was not built', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'strata-no-console-'));
    const u = await startTestServer({ consoleDir: empty });
    try {
      const res = await fetch(`${u.url}/console/`);
      expect(res.status).toBe(503);
      expect(await res.text()).toMatch(/npm run build/);
    } finally {
      await u.close();
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('the overview shows the facts `strata status --json` reports', async () => {
    const cli = await runCli(['--dir', t.dir, '--json', '-q', 'status']);
    expect(cli.code, cli.stderr).toBe(0);
    const status = JSON.parse(cli.stdout) as {
      collections: Array<{
        collection: string;
        version: number | null;
        count: number;
        pending: number;
        compacting: number;
        promoted: number;
        quarantined: number;
        segments: unknown[];
        lastRuns: Array<{ run: string; status: string }>;
      }>;
    };
    const { status: code, body } = await json<Overview>(t, 'GET', '/strata/v1/overview');
    expect(code).toBe(200);
    expect(body.collections.map((c) => c.collection)).toEqual(status.collections.map((c) => c.collection));
    for (const s of status.collections) {
      const o = body.collections.find((c) => c.collection === s.collection)!;
      expect(o).toMatchObject({
        version: s.version,
        records: s.count,
        segments: s.segments.length,
        ledger: {
          pending: s.pending,
          compacting: s.compacting,
          promoted: s.promoted,
          quarantined: s.quarantined,
        },
        lastRun: { run: s.lastRuns[0]!.run, status: s.lastRuns[0]!.status },
      });
    }
    const main = body.collections.find((c) => c.collection === MAIN)!;
    expect(main.ledger.pending).toBe(2);
    expect(main.freshnessLagMs).toBeGreaterThan(0);
    expect(body.collections.find((c) => c.collection === SECOND)!.freshnessLagMs).toBe(0);
    expect(body.totals.collections).toBe(2);
  });

  it('the collection view lists the version history with the retained versions', async () => {
    const { body } = await json<CollectionDetail>(t, 'GET', `/strata/v1/collections/${MAIN}`);
    const ledger = await readLedger(t.store, MAIN);
    const p = ledger.pointer!.value;
    expect(body.current).toMatchObject({
      version: p.version,
      records: p.count,
      snapshot: p.manifest,
      // 134 records of 16 dimensions are searched exactly: far below where an index pays off
      indexed: false,
      build: 'publish',
    });
    expect(body.versions.map((v) => [v.version, v.current, v.retained])).toEqual([
      [3, true, true],
      [2, false, true],
      [1, false, true],
    ]);
    expect(body.versions.find((v) => v.version === 1)!.records).toBe(84);
    expect(body.versions.every((v) => (v.bytes ?? 0) > 0)).toBe(true);
    // the current version's segments: one per group of each compaction, none merged (the fixture asks for
    // no merges); their live rows add up to the version's records
    const segments = body.segments!;
    expect(segments.length).toBe(ledger.manifest!.segments.length);
    expect(segments.length).toBeGreaterThan(1);
    expect(segments.reduce((n, x) => n + x.rows - x.superseded, 0)).toBe(p.count);
    expect(segments.every((x) => /^[0-9a-f]{64}$/.test(x.segment) && x.bytes > 0 && !x.indexed)).toBe(true);
    expect(body.pendingMerges).toBeGreaterThan(0);
    expect(body.versions.every((v) => v.segments !== undefined && v.segments > 0)).toBe(true);
    expect((await t.call('GET', '/strata/v1/collections/nope')).status).toBe(404);
  });

  it('the deltas view filters by state and sequence range and explains quarantined deltas', async () => {
    const all = (await json<DeltaPage>(t, 'GET', `/strata/v1/collections/${MAIN}/deltas`)).body;
    const ledger = await readLedger(t.store, MAIN);
    expect(all.total).toBe(ledger.entries.length);
    expect(all.counts).toEqual(ledger.counts);
    const q = (await json<DeltaPage>(t, 'GET', `/strata/v1/collections/${MAIN}/deltas?state=quarantined`))
      .body;
    expect(q.deltas).toHaveLength(1);
    expect(q.deltas[0]).toMatchObject({
      seqStart: f.quarantinedSeq,
      state: 'quarantined',
      source: f.quarantinedSource,
      quarantine: { code: 'E_DELTA_CHECKSUM', chunk: expect.any(Number) },
    });
    expect(q.deltas[0]!.quarantine!.message).toMatch(/SHA-256/);
    const range = (
      await json<DeltaPage>(t, 'GET', `/strata/v1/collections/${MAIN}/deltas?from=41&to=84&state=promoted`)
    ).body;
    expect(range.deltas.map((d) => [d.seqStart, d.version])).toEqual([
      [41, 1],
      [81, 1],
    ]);
    const paged = (await json<DeltaPage>(t, 'GET', `/strata/v1/collections/${MAIN}/deltas?limit=2&offset=2`))
      .body;
    expect(paged.deltas.map((d) => d.seqStart)).toEqual(ledger.entries.slice(2, 4).map((e) => e.seqStart));
    expect((await t.call('GET', `/strata/v1/collections/${MAIN}/deltas?state=bogus`)).status).toBe(400);
  });

  it('runs carry their steps from the journal, with timing, attempts and worker', async () => {
    const { body } = await json<{ runs: RunSummary[] }>(t, 'GET', `/strata/v1/runs?collection=${MAIN}`);
    expect(body.runs.map((r) => r.version)).toEqual([3, 2, 1]);
    expect(body.runs.every((r) => r.kind === 'compact')).toBe(true);
    const v2 = body.runs[1]!;
    const tl = (await json<RunDetail>(t, 'GET', `/strata/v1/runs/${v2.run}/timeline`)).body;
    expect(tl.journal).toBe(true);
    expect(tl.steps.map((s) => s.step)).toEqual([
      'chunk-0000',
      'chunk-0001',
      'group-0000',
      'final',
      'publish',
    ]);
    for (const s of tl.steps) {
      expect(s.status).toBe('succeeded');
      expect(s.attempts).toBe(1);
      expect(Date.parse(s.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(s.startedAt!));
    }
    expect(tl.steps.find((s) => s.step === 'final')!.worker).toMatch(/:\d+$/);
    expect(tl.steps.find((s) => s.step === 'chunk-0001')!.rejected).toBe(1);
    expect((await t.call('GET', '/strata/v1/runs/r20200101T000000Z-abcdef/timeline')).status).toBe(404);
  });

  it('a run of another process appears and finishes on the event stream', async () => {
    const { acceptDelta } = await import('../../src/pipeline/deltas.js');
    const { getCollection } = await import('../../src/pipeline/collections.js');
    const { upserts } = await import('../helpers/pipeline.js');
    const { compactJournaled } = await import('./fixture.js');
    const config = await getCollection(t.store, SECOND);
    await acceptDelta(t.store, config, upserts(20, 12, DIM, 500));
    let run = '';
    const seen = await readEvents(
      t.url,
      (e) => e.type === 'run' && e.run.run === run && e.run.status === 'succeeded',
      async () => {
        void compactJournaled(t.store, SECOND).then((r) => {
          run = r.run;
        });
      },
    );
    expect(seen.some((e) => e.type === 'step' && e.run === run && e.step.step === 'final')).toBe(true);
  });

  it('search answers by id or vector with filters, and checks recall against exact search', async () => {
    const id = f.hostileIds[0]!;
    const byId = await json<SearchResponse>(t, 'POST', `/strata/v1/collections/${MAIN}/search`, {
      id,
      k: 5,
      checkRecall: true,
    });
    expect(byId.status).toBe(200);
    expect(byId.body.results[0]).toMatchObject({
      id,
      document: `${XSS_SCRIPT} document 0`,
      distance: expect.any(Number),
    });
    expect(byId.body.results[0]!.metadata).toMatchObject({ note: XSS_SCRIPT });
    expect(byId.body.recall).toBe(1);
    expect(byId.body.exact!.ids).toHaveLength(5);
    const filtered = await json<SearchResponse>(t, 'POST', `/strata/v1/collections/${MAIN}/search`, {
      vector: Array.from({ length: DIM }, () => 1),
      k: 3,
      where: { note: XSS_SCRIPT },
    });
    expect(filtered.body.results.map((r) => r.id)).toEqual([id]);
    expect((await t.call('POST', `/strata/v1/collections/${MAIN}/search`, { k: 3 })).status).toBe(400);
    expect((await t.call('POST', `/strata/v1/collections/${MAIN}/search`, { vector: [1, 2] })).status).toBe(
      400,
    );
    expect((await t.call('POST', `/strata/v1/collections/${MAIN}/search`, { id: 'missing' })).status).toBe(
      404,
    );
  });

  it('the recall watch re-runs live Chroma queries exactly and exports recall@k', async () => {
    const coll = (await json<{ id: string }>(t, 'GET', `${DB}/collections/${MAIN}`)).body.id;
    for (let i = 0; i < 12; i++) {
      const q = await t.call('POST', `${DB}/collections/${coll}/query`, {
        query_embeddings: [Array.from({ length: DIM }, (_, j) => Math.cos(i + j))],
        n_results: 5,
      });
      expect(q.status).toBe(200);
    }
    let report: RecallReport | undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      report = (await json<RecallReport>(t, 'GET', '/strata/v1/recall')).body;
      if ((report.collections[MAIN]?.samples ?? 0) >= 12) break;
      await new Promise((r) => setImmediate(r));
    }
    expect(report!.collections[MAIN]).toMatchObject({ recall: 1, k: 5, alert: false });
    const metrics = await (await t.call('GET', '/metrics')).text();
    expect(metrics).toMatch(new RegExp(`strata_recall_at_k\\{collection="${MAIN}"\\} 1`));
    expect(metrics).toMatch(new RegExp(`strata_recall_samples_total\\{collection="${MAIN}"\\} 1\\d`));
    // the same registry feeds the charts: the next series point has the query rate and latency
    let series: Series | undefined;
    while (Date.now() < deadline + 10_000) {
      series = (await json<Series>(t, 'GET', '/strata/v1/series')).body;
      if (series.points.some((p) => (p.collections[MAIN]?.p50 ?? 0) > 0)) break;
      await new Promise((r) => setImmediate(r));
    }
    const point = series!.points.find((p) => (p.collections[MAIN]?.p50 ?? 0) > 0)!;
    expect(point.collections[MAIN]!.qps).toBeGreaterThan(0);
    expect(point.collections[MAIN]!.recall).toBe(1);
  });

  it('/metrics keeps every historical metric name and label (prom-client)', async () => {
    const text = await (await t.call('GET', '/metrics')).text();
    for (const name of [
      'strata_http_requests_total',
      'strata_queries_total',
      'strata_query_duration_seconds',
      'strata_snapshot_version',
      'strata_snapshot_records',
      'strata_snapshot_swaps_total',
      'strata_snapshot_open_seconds',
      'strata_snapshot_open_failures_total',
      'strata_snapshots_draining',
      'strata_write_operations_total',
      'strata_deltas_accepted_total',
      'strata_compactions_total',
    ])
      expect(text).toContain(`# TYPE ${name} `);
    expect(text).toMatch(
      new RegExp(`strata_query_duration_seconds_bucket\\{collection="${MAIN}",le="0.005"\\} \\d+`),
    );
    expect(text).toMatch(/strata_http_requests_total\{method="POST",route="[^"]+",status="200"\} \d+/);
  });

  it('actions need the token in a header: GC; rollback', async () => {
    expect((await t.call('POST', '/strata/v1/gc', { dryRun: true }, { authorization: '' })).status).toBe(401);
    const gc = await json<{ reports: Array<{ collection: string }> }>(t, 'POST', '/strata/v1/gc', {
      collection: MAIN,
      dryRun: true,
    });
    expect(gc.status).toBe(200);
    expect(gc.body.reports.map((r) => r.collection)).toEqual([MAIN]);
    const noToken = await t.call(
      'POST',
      `/strata/v1/collections/${MAIN}/rollback`,
      { toVersion: 2 },
      { authorization: '' },
    );
    expect(noToken.status).toBe(401);
    expect((await t.call('POST', `/strata/v1/collections/${MAIN}/rollback`, { toVersion: 'x' })).status).toBe(
      400,
    );
    // a version that is not retained is refused, by the API and the CLI alike (nothing changes)
    const r = await json<{ code: string; message: string }>(
      t,
      'POST',
      `/strata/v1/collections/${MAIN}/rollback`,
      { toVersion: 'v99' },
    );
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ code: 'E_NOT_FOUND' });
    expect(r.body.message).toMatch(/version 99 is not retained/);
    const cli = await runCli(['--dir', t.dir, 'rollback', '-c', MAIN, '--to', 'v99']);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/E_NOT_FOUND: version 99 is not retained/);
    expect((await runCli(['--dir', t.dir, 'rollback', '-c', MAIN, '--to', 'two'])).code).toBe(2);
  });
});

describe('rollback end to end', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
    await buildFixture(t.store);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('publishes the retained snapshot as a new version, and the server answers from it', async () => {
    const before = (await readLedger(t.store, MAIN)).pointer!.value;
    const res = await json<{ from: number; to: number; version: number }>(
      t,
      'POST',
      `/strata/v1/collections/${MAIN}/rollback`,
      { toVersion: 1 },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      collection: MAIN,
      from: before.version,
      to: 1,
      version: before.version + 1,
    });
    const after = await readLedger(t.store, MAIN);
    expect(after.pointer!.value.count).toBe(84);
    // the ledger's decision: deltas that landed after v1 are rolled back — not promoted, and not pending
    // either (a later compaction does not re-apply them; re-ingest them to apply them again)
    expect(after.entries.filter((e) => e.seqStart > 84 && e.state === 'promoted')).toEqual([]);
    const undone = after.entries.filter((e) => e.state === 'rolled-back');
    expect(undone.length).toBeGreaterThan(0);
    expect(undone.every((e) => e.seqStart > 84)).toBe(true);
    expect((res.body as unknown as { rolledBackDeltas: number }).rolledBackDeltas).toBe(undone.length);
    // the server answers from the restored version at once, with the pending deltas (its tail) on top
    await t.server.ctx.snapshots.refresh(MAIN);
    const count = await t.call('GET', `${DB}/collections/${MAIN}/count`);
    const served = (await count.json()) as number;
    expect(count.headers.get('x-strata-snapshot-version')).toBe(String(before.version + 1));
    // the next compaction applies the pending deltas on top of the restored records, not the undone ones
    const pendingBefore = after.counts.pending;
    expect(pendingBefore).toBeGreaterThan(0);
    await compact(t.store, MAIN, { executor: new InlineExecutor(t.store), merge: 'none' });
    const compacted = await readLedger(t.store, MAIN);
    expect(compacted.entries.filter((e) => e.state === 'rolled-back').length).toBe(undone.length);
    expect(compacted.counts.pending).toBe(0);
    expect(compacted.counts.promoted).toBe(after.counts.promoted + pendingBefore);
    expect(compacted.pointer!.value.count).toBe(served);
    await t.server.ctx.snapshots.refresh(MAIN);
    const again = await t.call('GET', `${DB}/collections/${MAIN}/count`);
    expect(await again.json()).toBe(served);
    expect(again.headers.get('x-strata-snapshot-version')).toBe(String(before.version + 2));
  });

  it('a merge run shows as one: its kind, the version it published, its merge steps from the journal', async () => {
    const before = (await readLedger(t.store, MAIN)).pointer!.value;
    const cli = await runCli(['--dir', t.dir, 'optimize', '-c', MAIN, '--runner', 'inline', '--json']);
    expect(cli.code).toBe(0);
    const after = (await readLedger(t.store, MAIN)).pointer!.value;
    expect(after.version).toBeGreaterThan(before.version);
    expect(after.count).toBe(before.count);
    const { body } = await json<{ runs: RunSummary[] }>(t, 'GET', `/strata/v1/runs?collection=${MAIN}`);
    const merge = body.runs[0]!;
    expect(merge).toMatchObject({
      kind: 'merge',
      status: 'succeeded',
      version: after.version,
      build: 'merge',
    });
    expect(merge.merges).toMatchObject({ published: merge.merges!.planned, dropped: 0 });
    const tl = (await json<RunDetail>(t, 'GET', `/strata/v1/runs/${merge.run}/timeline`)).body;
    expect(tl.journal).toBe(true);
    expect(tl.steps.length).toBe(merge.merges!.planned);
    expect(tl.steps.every((s) => s.kind === 'merge' && s.status === 'succeeded')).toBe(true);
    const detail = (await json<CollectionDetail>(t, 'GET', `/strata/v1/collections/${MAIN}`)).body;
    expect(detail.segments).toHaveLength(1);
    expect(detail.segments![0]!.superseded).toBe(0);
    expect(detail.pendingMerges).toBe(0);
    expect(detail.versions[0]).toMatchObject({ version: after.version, current: true, build: 'merge' });
  });

  it('refuses a version that is not retained', async () => {
    await expect(rollbackCollection(t.store, MAIN, { toVersion: 99 })).rejects.toMatchObject({
      code: 'E_NOT_FOUND',
    });
  });
});
