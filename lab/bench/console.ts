/**
 * Console bench (the Console's goals), against a real `strata serve` and Debian's Chromium (playwright-core):
 *  1. overview first render with 100 collections and 10,000 deltas in the ledger: from navigation to the
 *     100th row on screen, in a fresh browser context each time (cold server caches for the first);
 *  2. a 1,000-step run's timeline: navigation to the 1,000th bar;
 *  3. query p50 under load with and without a Console open (overview + live events), interleaved;
 *  4. recall watch at a 1 % sample: server CPU per query with it off and on, interleaved, on a collection
 *     large enough that queries take the approximate (HNSW) path.
 * Needs the built Console (npm run build) and /usr/bin/chromium (npm test's setup installs it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Operation } from '../../src/core/types.js';
import { createCollection } from '../../src/pipeline/collections.js';
import { compact } from '../../src/pipeline/compact.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import { writeJson } from '../../src/pipeline/json-object.js';
import { Keys } from '../../src/pipeline/layout.js';
import type { RunRecord } from '../../src/pipeline/runs.js';
import { journalPrefix, type StepRecord } from '../../src/pipeline/step-journal.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { StrataServer } from '../../src/server/server.js';
import { LocalStore } from '../../src/store/local-store.js';
import { generateRecords } from '../../src/workload/synthetic.js';
import { runHttpLoad } from './http-load.js';
import { type BenchRow, type BenchSection, median, round } from './stats.js';

export interface ConsoleBenchOptions {
  collections?: number;
  deltasPerCollection?: number;
  steps?: number;
  /** The recall-watch collection: records × dimension (large enough for the HNSW path). */
  recallRecords?: number;
  recallDimension?: number;
  queries?: number;
  log?: (msg: string) => void;
}

const TOKEN = 'bench-token';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ms = (x: number) => `${round(x, 1)} ms`;
const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

function ops(seed: number, count: number, dimension: number, offset = 0): Operation[] {
  return [...generateRecords({ seed, count, dimension, offset })].map((r) => ({
    op: 'upsert' as const,
    id: r.id,
    embedding: r.embedding,
    document: r.document ?? null,
    metadata: r.metadata ?? null,
  }));
}

/**
 * Navigation start → `selector` matched `count` times, as the page measures it (performance.now() counts
 * from the navigation's start), in a fresh browser context; also the wall time including the browser's
 * own start of a new page.
 */
async function timeRender(
  browser: Browser,
  url: string,
  selector: string,
  count: number,
): Promise<{ page: number; wall: number }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    const page = await context.newPage();
    const t0 = Date.now();
    await page.goto(url, { waitUntil: 'commit' });
    const handle = await page.waitForFunction(
      ([sel, n]) => {
        const g = globalThis as unknown as {
          document: { querySelectorAll(s: string): { length: number } };
          performance: { now(): number };
        };
        return g.document.querySelectorAll(sel as string).length >= (n as number)
          ? g.performance.now()
          : false;
      },
      [selector, count] as const,
      { timeout: 60_000, polling: 'raf' },
    );
    const inPage = (await handle.jsonValue()) as number;
    return { page: inPage, wall: Date.now() - t0 };
  } finally {
    await context.close();
  }
}

async function openConsole(browser: Browser, url: string): Promise<{ page: Page; close(): Promise<void> }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url);
  await page.locator('.live-on').waitFor({ timeout: 30_000 });
  return { page, close: () => context.close() };
}

export async function benchConsole(o: ConsoleBenchOptions = {}): Promise<BenchSection> {
  const nColl = o.collections ?? 100;
  const perColl = o.deltasPerCollection ?? 100;
  const nSteps = o.steps ?? 1_000;
  const recallRecords = o.recallRecords ?? 20_000;
  const recallDim = o.recallDimension ?? 256;
  const nq = o.queries ?? 2_000;
  const log = o.log ?? (() => {});
  const rows: BenchRow[] = [];
  const data: Record<string, unknown> = { collections: nColl, deltasPerCollection: perColl, steps: nSteps };
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-console-'));
  const store = await LocalStore.open(dir);
  let browser: Browser | undefined;
  let server: StrataServer | undefined;
  try {
    // --- 100 collections, 10,000 deltas: half promoted (one compaction each), half pending -------------
    log(`console: ${nColl} collections × ${perColl} deltas`);
    const exec = new InlineExecutor(store);
    for (let c = 0; c < nColl; c++) {
      const name = `coll-${String(c).padStart(3, '0')}`;
      const config = await createCollection(store, {
        name,
        dimension: 4,
        metric: 'cos',
        quantization: 'f32',
      });
      const all = ops(c, perColl, 4);
      for (let i = 0; i < perColl; i++) {
        await acceptDelta(store, config, [all[i]!], { source: `batch-${i}.ndjson` });
        if (i === Math.floor(perColl / 2) - 1)
          await compact(store, name, { executor: exec, chunkSize: 50, groupSize: 10 });
      }
    }
    // --- a run with 1,000 journaled steps (records as compact() and the journal write them) -------------
    const run = 'r20261201T000000Z-b0b0b0';
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    const record: RunRecord = {
      run,
      collection: 'coll-000',
      status: 'succeeded',
      owner: 'bench',
      token: 1,
      startedAt: new Date(t0).toISOString(),
      finishedAt: new Date(t0 + 120_000).toISOString(),
      deltas: Array.from({ length: nSteps * 3 }, (_, i) => i + 1),
      chunks: nSteps - 100,
      groups: 99,
      groupsSucceeded: 99,
      groupsFailed: 0,
      timingsMs: { plan: 10, chunks: 90_000, groups: 20_000, final: 9_000, publish: 500, total: 120_000 },
    };
    await writeJson(store, Keys.runRecord('coll-000', run), record);
    const steps: StepRecord[] = Array.from({ length: nSteps }, (_, i) => {
      const kind = i < nSteps - 100 ? 'chunk' : i < nSteps - 1 ? 'group' : 'final';
      const index = kind === 'chunk' ? i : kind === 'group' ? i - (nSteps - 100) : 0;
      const start = t0 + i * 100;
      return {
        collection: 'coll-000',
        run,
        step: kind === 'final' ? 'final' : `${kind}-${String(index).padStart(4, '0')}`,
        kind,
        index,
        status: 'succeeded',
        submittedAt: new Date(t0).toISOString(),
        startedAt: new Date(start).toISOString(),
        finishedAt: new Date(start + 300).toISOString(),
        ms: 300,
        attempts: 1,
        worker: `bench:${1000 + (i % 4)}`,
        inputs: 3,
        records: 30,
      };
    });
    for (const s of steps) await writeJson(store, `${journalPrefix('coll-000', run)}${s.step}.json`, s);

    // --- a collection for the query and recall measurements (HNSW path) --------------------------------
    log(`console: recall collection ${recallRecords} × ${recallDim}`);
    const big = await createCollection(store, {
      name: 'zz-big',
      dimension: recallDim,
      metric: 'cos',
      quantization: 'f16',
    });
    const bigOps = ops(7, recallRecords, recallDim);
    for (let i = 0; i < bigOps.length; i += 5_000) await acceptDelta(store, big, bigOps.slice(i, i + 5_000));
    await compact(store, 'zz-big', { executor: exec });
    await exec.close();

    const start = (recallSample: number) =>
      StrataServer.start({
        store,
        port: 0,
        token: TOKEN,
        compactExecutor: async () => new InlineExecutor(store),
        recallSample,
      });
    server = await start(0);
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: CHROMIUM_ARGS,
      headless: true,
    });

    // --- 1. overview first render -----------------------------------------------------------------------
    const overviewUrl = `${server.url}/console/`;
    const load1 = loadavg()[0]!.toFixed(1);
    data.loadAverage = loadavg();
    const tApi = performance.now();
    await (await fetch(`${server.url}/strata/v1/overview`)).json();
    const apiCold = performance.now() - tApi;
    const renders: Array<{ page: number; wall: number }> = [];
    for (let i = 0; i < 5; i++)
      renders.push(await timeRender(browser, overviewUrl, 'tr[data-collection]', nColl + 1));
    const tWarm = performance.now();
    await (await fetch(`${server.url}/strata/v1/overview`)).json();
    const apiWarm = performance.now() - tWarm;
    const pages = renders.map((r) => r.page);
    data.overview = { renders, apiColdMs: apiCold, apiWarmMs: apiWarm };
    log(`console: overview renders ${pages.map((r) => Math.round(r)).join(', ')} ms`);
    rows.push({
      bench: `overview first render (${nColl} collections, ${nColl * perColl} deltas)`,
      metric: `navigation start → every row on screen, in the page (first / median of 5; wall incl. new page); load average ${load1}`,
      strata: `${ms(pages[0]!)} / ${ms(median(pages))} (wall ${ms(median(renders.map((r) => r.wall)))})`,
      baseline: `API alone: ${ms(apiCold)} first, ${ms(apiWarm)} later`,
      ratio: '-',
      goal: '≤ 1 s',
      met: pages[0]! <= 1_000 && median(pages) <= 1_000,
    });

    /** Server CPU (this process) and wall time of one API call, median of `n`. */
    const apiCost = async (path: string, n = 5) => {
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let i = 0; i < n; i++) {
        const c0 = process.cpuUsage();
        const w0 = performance.now();
        const res = await fetch(`${server!.url}${path}`);
        await res.arrayBuffer();
        wall.push(performance.now() - w0);
        cpu.push(cpuMs(process.cpuUsage(c0)));
      }
      return { cpu: median(cpu), wall: median(wall) };
    };
    const ov = await apiCost('/strata/v1/overview');
    data.overviewApi = ov;
    rows.push({
      bench: `overview API (${nColl} collections, ${nColl * perColl} deltas), after the first`,
      metric: 'server CPU / wall per request, median of 5',
      strata: `${ms(ov.cpu)} / ${ms(ov.wall)}`,
      baseline: '-',
      ratio: '-',
      goal: 'report',
      met: null,
    });

    // --- 2. a 1,000-step run's timeline -------------------------------------------------------------------
    const tlUrl = `${server.url}/console/#/runs/${run}?c=coll-000`;
    const tls: Array<{ page: number; wall: number }> = [];
    for (let i = 0; i < 5; i++) tls.push(await timeRender(browser, tlUrl, 'tr[data-step]', nSteps));
    data.timeline = tls;
    const tlApi = await apiCost(`/strata/v1/runs/${run}/timeline?collection=coll-000`);
    data.timelineApi = tlApi;
    rows.push({
      bench: `run timeline API (${nSteps} steps), after the first`,
      metric: 'server CPU / wall per request, median of 5',
      strata: `${ms(tlApi.cpu)} / ${ms(tlApi.wall)}`,
      baseline: '-',
      ratio: '-',
      goal: 'report',
      met: null,
    });
    const tlPages = tls.map((r) => r.page);
    rows.push({
      bench: `run timeline (${nSteps} steps)`,
      metric:
        'navigation start → every bar on screen, in the page (first / median of 5; wall incl. new page)',
      strata: `${ms(tlPages[0]!)} / ${ms(median(tlPages))} (wall ${ms(median(tls.map((r) => r.wall)))})`,
      baseline: '-',
      ratio: '-',
      goal: '≤ 1 s',
      met: median(tlPages) <= 1_000,
    });

    // --- 3 and 4: queries over HTTP ---------------------------------------------------------------------
    const colls = (await (
      await fetch(
        `${server.url}/api/v2/tenants/default_tenant/databases/default_database/collections/zz-big`,
        {
          headers: { authorization: `Bearer ${TOKEN}` },
        },
      )
    ).json()) as { id: string };
    const qvecs = ops(99, 200, recallDim, 10_000_000).map((x) =>
      Array.from((x as { embedding: Float32Array }).embedding),
    );
    const bodies = qvecs.map((v) =>
      JSON.stringify({ query_embeddings: [v], n_results: 10, include: ['distances'] }),
    );
    const load = async (srv: StrataServer) => {
      const url = `${srv.url}/api/v2/tenants/default_tenant/databases/default_database/collections/${colls.id}/query`;
      const cpu0 = process.cpuUsage();
      const r = await runHttpLoad({ url, bodies, concurrency: 1, total: nq });
      if (r.errors.length) throw new Error(`queries failed: ${r.errors[0]}`);
      return { p50: median(r.latencies), cpuPerQuery: cpuMs(process.cpuUsage(cpu0)) / nq };
    };
    await load(server); // warm-up
    log('console: query p50 without / with a Console open');
    const without: number[] = [];
    const withConsole: number[] = [];
    for (let round_ = 0; round_ < 3; round_++) {
      without.push((await load(server)).p50);
      const c = await openConsole(browser, overviewUrl);
      try {
        withConsole.push((await load(server)).p50);
      } finally {
        await c.close();
      }
    }
    data.consoleOpen = { without, withConsole };
    const pOff = median(without);
    const pOn = median(withConsole);
    rows.push({
      bench: `query p50 (k=10, ${recallRecords} × ${recallDim}, c=1) with a Console open (overview, live events)`,
      metric: 'p50, median of 3 interleaved rounds',
      strata: ms(pOn),
      baseline: `${ms(pOff)} (no Console)`,
      ratio: `${round(pOn / pOff, 3)}×`,
      goal: '≤ 1.05×',
      met: pOn / pOff <= 1.05,
    });
    await server.close();
    server = undefined;

    log('console: server CPU per query, recall watch off / at 1 %');
    const off: number[] = [];
    const on: number[] = [];
    for (let round_ = 0; round_ < 3; round_++) {
      for (const [sample, into] of [
        [0, off],
        [0.01, on],
      ] as const) {
        const s = await start(sample);
        try {
          await load(s);
          into.push((await load(s)).cpuPerQuery);
        } finally {
          await s.close();
        }
      }
    }
    data.recallCpu = { off, on };
    const cOff = median(off);
    const cOn = median(on);
    rows.push({
      bench: `recall watch at 1 % (${recallRecords} × ${recallDim}, HNSW path)`,
      metric: 'server CPU per query, median of 3 interleaved rounds',
      strata: `${round(cOn, 3)} ms`,
      baseline: `${round(cOff, 3)} ms (watch off)`,
      ratio: `${round(cOn / cOff, 3)}×`,
      goal: '≤ 1.03×',
      met: cOn / cOff <= 1.03,
    });
    return { name: 'console', rows, data };
  } finally {
    await browser?.close();
    await server?.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
