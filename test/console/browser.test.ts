/**
 * The Console in a real browser: Debian's Chromium driven by playwright-core (no browser download).
 * Every page loads with no console error, no failed request and no serious or critical axe-core
 * violation, shows the facts of the store the test built (checked against `strata status --json` and the
 * pipeline's own functions), renders markup, right-to-left text and emoji from the data as text (no
 * dialog ever opens), and updates live while a run is in progress. Screenshots of every page go to
 * test-artifacts/console/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getCollection } from '../../src/pipeline/collections.js';
import { compact } from '../../src/pipeline/compact.js';
import { acceptDelta } from '../../src/pipeline/deltas.js';
import type { StepExecutor } from '../../src/pipeline/executor.js';
import { readLedger } from '../../src/pipeline/ledger.js';
import { StepJournal } from '../../src/pipeline/step-journal.js';
import { InlineExecutor } from '../../src/runners/inline.js';
import { runCli } from '../helpers/cli.js';
import { upserts } from '../helpers/pipeline.js';
import { compactNow, startTestServer, type TestServer, TOKEN } from '../server/helpers.js';
import { axeViolations, launchChromium, openPage, screenshot, type WatchedPage } from './browser.js';
import {
  buildFixture,
  DIM,
  EMOJI,
  type Fixture,
  HOSTILE,
  MAIN,
  RTL,
  SECOND,
  XSS_IMG,
  XSS_SCRIPT,
} from './fixture.js';

type Browser = Awaited<ReturnType<typeof launchChromium>>;

const NOTES = 'acme.prod.notes';
const DB_ACME = '/api/v2/tenants/acme/databases/prod';

interface StatusRow {
  collection: string;
  version: number | null;
  count: number;
  pending: number;
  compacting: number;
  quarantined: number;
}

describe('the Console in Chromium', () => {
  let t: TestServer;
  let f: Fixture;
  let browser: Browser;
  let status: StatusRow[];
  const open: WatchedPage[] = [];

  /** Opens a Console page and waits for `ready`; afterwards checks for problems, dialogs and axe violations. */
  async function visit(
    hash: string,
    ready: (w: WatchedPage) => Promise<void>,
    shot: string,
  ): Promise<WatchedPage> {
    const w = await openPage(browser, `${t.url}/console/${hash}`);
    open.push(w);
    await ready(w);
    // nothing from the data became markup: no injected element, no dialog
    expect(await w.page.locator('img').count()).toBe(0);
    expect(await w.page.locator('#app script').count()).toBe(0);
    expect(await w.page.locator('[onerror]').count()).toBe(0);
    expect(await axeViolations(w.page)).toEqual([]);
    await screenshot(w.page, shot);
    expect(w.problems).toEqual([]);
    expect(w.dialogs).toEqual([]);
    return w;
  }

  beforeAll(async () => {
    t = await startTestServer({ recallSample: 1, seriesEveryMs: 250, eventsPollMs: 200 });
    f = await buildFixture(t.store);
    // the fixture wrote behind the server's back: take the catalog refresh a server does on its own
    await t.server.ctx.catalog.reload();
    // a collection made over the Chroma API, in another tenant, with hostile metadata and documents (the
    // tenant and its database first, as Chroma wants them)
    expect((await t.call('POST', '/api/v2/tenants', { name: 'acme' })).status).toBe(200);
    expect((await t.call('POST', '/api/v2/tenants/acme/databases', { name: 'prod' })).status).toBe(200);
    const created = await t.call('POST', `${DB_ACME}/collections`, {
      name: 'notes',
      metadata: { note: XSS_IMG, title: XSS_SCRIPT, rtl: RTL, emoji: EMOJI },
    });
    expect(created.status).toBe(200);
    const { id } = (await created.json()) as { id: string };
    const add = await t.call('POST', `${DB_ACME}/collections/${id}/add`, {
      ids: HOSTILE.map((s, i) => `${s}-${i}`),
      embeddings: HOSTILE.map((_, i) => Array.from({ length: DIM }, (_, j) => Math.sin(i * 3 + j) + 2)),
      documents: HOSTILE,
      metadatas: HOSTILE.map((s) => ({ note: s })),
    });
    expect(add.status).toBe(201);
    await compactNow(t, NOTES);
    // some live traffic for the charts and the recall watch
    const main = (await (
      await t.call('GET', `/api/v2/tenants/default_tenant/databases/default_database/collections/${MAIN}`)
    ).json()) as {
      id: string;
    };
    for (let i = 0; i < 8; i++)
      await t.call(
        'POST',
        `/api/v2/tenants/default_tenant/databases/default_database/collections/${main.id}/query`,
        {
          query_embeddings: [Array.from({ length: DIM }, (_, j) => Math.cos(i + j))],
          n_results: 5,
        },
      );
    const cli = await runCli(['--dir', t.dir, '--json', '-q', 'status']);
    expect(cli.code, cli.stderr).toBe(0);
    status = (JSON.parse(cli.stdout) as { collections: StatusRow[] }).collections;
    browser = await launchChromium();
  });

  afterAll(async () => {
    for (const w of open) await w.close().catch(() => undefined);
    await browser?.close();
    await t?.close();
  });

  it('overview: every collection with the facts `strata status --json` reports', async () => {
    await visit(
      '',
      async ({ page }) => {
        for (const s of status) {
          const row = page.locator(`tr[data-collection="${s.collection}"]`);
          await row
            .locator('[data-field="version"]')
            .filter({ hasText: s.version === null ? 'none' : `v${s.version}` })
            .waitFor();
          await expectText(row.locator('[data-field="records"]'), s.count.toLocaleString('en'));
          await expectText(row.locator('[data-field="pending"]'), String(s.pending));
          await expectText(row.locator('[data-field="compacting"]'), String(s.compacting));
          await expectText(row.locator('[data-field="quarantined"]'), String(s.quarantined));
        }
        expect(status.map((s) => s.collection).sort()).toEqual([NOTES, SECOND, MAIN].sort());
        await page.locator('.live-on').waitFor();
        // the query-rate sparkline of the queried collection has a point
        await page
          .locator(`tr[data-collection="${MAIN}"] .spark svg polyline`)
          .first()
          .waitFor({ state: 'attached' });
      },
      'overview',
    );
  });

  it('collection: version history with rollback buttons, the current segment, Chroma metadata as text', async () => {
    const ledger = await readLedger(t.store, MAIN);
    await visit(
      `#/c/${MAIN}`,
      async ({ page }) => {
        await expectText(page.locator('[data-field="version"]'), `v${ledger.pointer!.value.version}`);
        await expectText(page.locator('[data-field="records"]'), String(ledger.pointer!.value.count));
        for (const v of [3, 2, 1]) await page.locator(`tr[data-version="${v}"]`).waitFor();
        // the current version's segments, each by its address, and what the merge policy asks for
        const segs = ledger.manifest!.segments;
        for (const x of segs) await page.locator(`th[data-segment="${x.manifestSha256}"]`).waitFor();
        await expectText(page.locator('[data-field="pending-merges"]'), 'merge');
        expect(await page.getByRole('button', { name: 'Roll back to v2' }).count()).toBe(1);
        expect(await page.getByRole('button', { name: 'Roll back to v3' }).count()).toBe(0);
      },
      'collection',
    );
    const w = await visit(
      `#/c/${NOTES}`,
      async ({ page }) => {
        await page.getByText('acme/prod/notes').waitFor();
        const meta = page.locator('pre.json');
        for (const s of [XSS_IMG, XSS_SCRIPT, RTL, EMOJI])
          expect(await meta.textContent()).toContain(JSON.stringify(s).slice(1, -1));
      },
      'collection-hostile-metadata',
    );
    expect(w.dialogs).toEqual([]);
  });

  it('rollback asks for confirmation, publishes the restored records as a new version and says so', async () => {
    const w = await openPage(browser, `${t.url}/console/#/c/${MAIN}`);
    open.push(w);
    const { page } = w;
    // the token is asked for and kept in this tab's sessionStorage, sent as a header; no cookie is set
    await page.getByRole('button', { name: /^Token/ }).click();
    await page.getByLabel('Operator token').fill(TOKEN);
    await page.getByRole('button', { name: 'Save for this tab' }).click();
    await page.getByRole('button', { name: 'Roll back to v1' }).click();
    const before = (await readLedger(t.store, MAIN)).pointer!.value.version;
    await page.getByText(/Make the records of v1 current again\?/).waitFor();
    await page.getByRole('button', { name: 'Yes, roll back to v1' }).click();
    await page.getByText(`Rolled back to the records of v1, published as v${before + 1}`).waitFor();
    // the page reloads its view: the new version is current, and the history says it was a rollback
    const row = page.locator(`tr[data-version="${before + 1}"]`);
    await row.waitFor();
    await expectText(row, 'rollback');
    expect((await readLedger(t.store, MAIN)).pointer!.value).toMatchObject({
      version: before + 1,
      count: 84,
    });
    expect(await page.evaluate("sessionStorage.getItem('strata-console-token')")).toBe(TOKEN);
    expect(await page.context().cookies()).toEqual([]);
    expect(w.dialogs).toEqual([]);
    expect(w.problems).toEqual([]);
  });

  it('deltas: filter by state; a quarantined delta shows its code, message and file as text', async () => {
    await visit(
      `#/c/${MAIN}/deltas?state=quarantined`,
      async ({ page }) => {
        const row = page.locator(`tr[data-seq="${f.quarantinedSeq}"]`);
        await row.waitFor();
        await expectText(row, 'E_DELTA_CHECKSUM');
        await row.locator('summary').click();
        await expectText(row, f.quarantinedSource);
        expect(await page.locator('tbody tr').count()).toBe(1);
      },
      'deltas-quarantined',
    );
    await visit(
      `#/c/${MAIN}/deltas`,
      async ({ page }) => {
        const entries = (await readLedger(t.store, MAIN)).entries;
        await expect.poll(() => page.locator('tbody tr').count()).toBe(entries.length);
        for (const e of entries) await expectText(page.locator(`tr[data-seq="${e.seqStart}"]`), e.state);
        await page.getByText(`${XSS_IMG}.ndjson`).waitFor();
        await page.getByText(`${EMOJI}.ndjson`).waitFor();
      },
      'deltas',
    );
  });

  it('search: by a hostile id, results with documents and metadata as text, and a recall check', async () => {
    await visit(
      `#/search?c=${MAIN}`,
      async ({ page }) => {
        await page.locator('#s-id').fill(f.hostileIds[1]!);
        await page.getByLabel('k', { exact: true }).fill('5');
        await page.getByRole('button', { name: 'Check recall' }).click();
        await expectText(
          page.locator('[data-field="search-summary"]'),
          'recall@5 against exact search: 100.0 %',
        );
        const first = page.locator('tbody tr').first();
        await expectText(first.locator('th.id'), f.hostileIds[1]!);
        await expectText(first.locator('td.doc'), `${XSS_IMG} document 1`);
        await page.getByLabel('where (JSON)').fill(JSON.stringify({ note: RTL }));
        await page.getByRole('button', { name: 'Search', exact: true }).click();
        await expect.poll(() => page.locator('tbody tr').count()).toBe(1);
        await expectText(page.locator('tbody tr td.doc'), `${RTL} document 2`);
      },
      'search',
    );
  });

  it('runs: a run of another process appears, its steps update live, and it finishes', async () => {
    const config = await getCollection(t.store, SECOND);
    for (let i = 0; i < 4; i++) await acceptDelta(t.store, config, upserts(30 + i, 10, DIM, 1_000 + i * 10));
    const list = await openPage(browser, `${t.url}/console/#/runs?c=${SECOND}`);
    open.push(list);
    await list.page.locator('.live-on').waitFor();
    // the final merge waits for the test: the run is visibly in progress until then
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const inner = new InlineExecutor(t.store);
    const gated: StepExecutor = {
      name: 'gated',
      concurrency: 1,
      run: async (task) => {
        if (task.kind === 'final') await gate;
        return inner.run(task);
      },
      close: () => inner.close(),
    };
    const running = compact(t.store, SECOND, {
      executor: new StepJournal(t.store).wrap(gated),
      chunkSize: 1,
      groupSize: 2,
    });
    try {
      const row = list.page.locator('tr[data-run]').filter({ has: list.page.locator('.badge-running') });
      await row.waitFor();
      const run = (await row.getAttribute('data-run'))!;
      await screenshot(list.page, 'runs-in-progress');
      const tl = await openPage(browser, `${t.url}/console/#/runs/${run}?c=${SECOND}`);
      open.push(tl);
      await tl.page.locator('tr[data-step="group-0001"][data-status="succeeded"]').waitFor();
      await tl.page.locator('tr[data-step="final"][data-status="running"]').waitFor();
      await screenshot(tl.page, 'run-in-progress');
      release();
      const report = await running;
      expect(report.run).toBe(run);
      await list.page.locator(`tr[data-run="${run}"] .badge-succeeded`).waitFor();
      await tl.page.locator('tr[data-step="final"][data-status="succeeded"]').waitFor();
      await tl.page.locator('tr[data-step="publish"]').waitFor();
      await expectText(tl.page.locator('[data-field="run-status"]'), `v${report.snapshot!.version}`);
      expect(await axeViolations(tl.page)).toEqual([]);
      await screenshot(tl.page, 'run-timeline');
      expect([...list.problems, ...tl.problems]).toEqual([]);
    } finally {
      release();
      await running.catch(() => undefined);
    }
    await visit(
      `#/runs`,
      async ({ page }) => {
        await expect.poll(() => page.locator('tr[data-run]').count()).toBeGreaterThanOrEqual(6);
      },
      'runs',
    );
  });

  it('metrics: charts from the registry; the recall watch turns to alert live', async () => {
    const w = await visit(
      `#/metrics?c=${MAIN}`,
      async ({ page }) => {
        await page
          .locator(`tr[data-collection="${MAIN}"] [data-field="recall-state"]`)
          .getByText('ok')
          .waitFor();
        await expect.poll(() => page.locator('canvas').count()).toBeGreaterThanOrEqual(4);
      },
      'metrics',
    );
    // a drop in recall (fed through the watch's own recording path) shows as an alert without a reload
    for (let i = 0; i < 200; i++) t.server.ctx.recall.record(MAIN, 5, 0.6);
    await w.page
      .locator(`tr[data-collection="${MAIN}"] [data-field="recall-state"]`)
      .getByText(/alert: below 95.0 %/)
      .waitFor();
    await screenshot(w.page, 'metrics-recall-alert');
    expect(w.problems).toEqual([]);
    expect(w.dialogs).toEqual([]);
  });
});

describe('the Console with --auth-reads', () => {
  let t: TestServer;
  let browser: Browser;
  beforeAll(async () => {
    t = await startTestServer({ authReads: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('asks for the token, then shows the data; the static shell itself needs none', async () => {
    const w = await openPage(browser, `${t.url}/console/`);
    try {
      await w.page
        .getByRole('alert')
        .getByText(/needs the operator token/)
        .waitFor();
      await w.page.getByRole('button', { name: /^Token/ }).click();
      await w.page.getByLabel('Operator token').fill(TOKEN);
      await w.page.getByRole('button', { name: 'Save for this tab' }).click();
      await w.page.getByText('No collections yet.').waitFor();
      await w.page.locator('.live-on').waitFor();
      expect(w.problems.every((p) => /HTTP 401/.test(p))).toBe(true);
      expect(w.dialogs).toEqual([]);
    } finally {
      await w.close();
    }
  });
});

async function expectText(locator: import('playwright-core').Locator, text: string): Promise<void> {
  await expect
    .poll(async () => (await locator.first().textContent()) ?? '', { timeout: 15_000 })
    .toContain(text);
}
