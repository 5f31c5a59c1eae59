/** The real `strata` command in child processes: every command, --json shapes, exit codes, error format. */
import { appendFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateRecords } from '../../src/workload/synthetic.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const DIM = 16;

async function ndjson(dir: string, name: string, from: number, count: number): Promise<string> {
  const lines = [...generateRecords({ seed: 5, count, dimension: DIM, offset: from })].map((r) =>
    JSON.stringify({
      id: r.id,
      embedding: Array.from(r.embedding),
      document: r.document,
      metadata: r.metadata,
    }),
  );
  const path = join(dir, name);
  await writeFile(path, `${lines.join('\n')}\n`);
  return path;
}

describe('strata CLI', () => {
  it('ingest → compact → status → verify → query → inspect → gc, with --json everywhere', async () => {
    await using t = await tempDir();
    const store = join(t.dir, 'store');
    const a = await ndjson(t.dir, 'a.jsonl', 0, 150);
    const b = await ndjson(t.dir, 'b.jsonl', 150, 150);
    const ids = [...generateRecords({ seed: 5, count: 3, dimension: DIM })].map((r) => r.id);
    await appendFile(
      b,
      `${JSON.stringify({ op: 'delete', id: ids[0] })}\n${JSON.stringify({ op: 'update', id: ids[1], metadata: { reviewed: true } })}\n`,
    );

    const ing = await runCli(['--dir', store, '--json', 'ingest', a, b, '-c', 'lines', '--batch', '50']);
    expect(ing.code, ing.stderr).toBe(0);
    expect(JSON.parse(ing.stdout)).toMatchObject({ collection: 'lines', operations: 302 });

    const st0 = JSON.parse((await runCli(['--dir', store, '--json', 'status'])).stdout);
    expect(st0.collections[0]).toMatchObject({
      collection: 'lines',
      dimension: DIM,
      version: null,
      pending: 7,
      promoted: 0,
      unpublished: { operations: 302, deltas: 7 },
    });
    expect(st0.collections[0].unpublished.bytes).toBeGreaterThan(302 * DIM * 4);
    expect(st0.collections[0].unpublished.oldestAgeMs).toBeGreaterThanOrEqual(0);

    const cmp = await runCli([
      '--dir',
      store,
      '--json',
      'compact',
      '-c',
      'lines',
      '--concurrency',
      '2',
      '--chunk-size',
      '2',
      '--group-size',
      '2',
      '--merge',
      'none',
    ]);
    expect(cmp.code, cmp.stderr).toBe(0);
    expect(JSON.parse(cmp.stdout)).toMatchObject({
      status: 'published',
      deltas: 7,
      chunks: 4,
      groups: 2,
      groupsSucceeded: 2,
      groupsFailed: 0,
      snapshot: { version: 1, count: 299 },
    });

    const st = JSON.parse((await runCli(['--dir', store, '--json', 'status', '-c', 'lines'])).stdout);
    expect(st.collections[0]).toMatchObject({
      version: 1,
      count: 299,
      pending: 0,
      compacting: 0,
      promoted: 7,
      quarantined: 0,
      unpublished: { operations: 0, deltas: 0, bytes: 0, oldestAgeMs: null },
    });
    expect(st.collections[0].segments).toHaveLength(3);

    const ver = await runCli(['--dir', store, '--json', 'verify']);
    expect(ver.code).toBe(0);
    expect(JSON.parse(ver.stdout)).toMatchObject({
      ok: true,
      collections: [{ collection: 'lines', ok: true, version: 1 }],
    });

    const q = JSON.parse(
      (await runCli(['--dir', store, '--json', 'query', '-c', 'lines', '--id', ids[2]!, '-k', '3'])).stdout,
    );
    expect(q.results[0].hits[0].id).toBe(ids[2]);
    const upd = JSON.parse(
      (
        await runCli([
          '--dir',
          store,
          '--json',
          'query',
          '-c',
          'lines',
          '--id',
          ids[1]!,
          '-k',
          '1',
          '--where',
          '{"reviewed":true}',
        ])
      ).stdout,
    );
    expect(upd.results[0].hits).toHaveLength(1);
    expect(upd.results[0].hits[0]).toMatchObject({ id: ids[1], metadata: { reviewed: true } });
    const gone = await runCli(['--dir', store, 'query', '-c', 'lines', '--id', ids[0]!]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^E_NOT_FOUND: no record/);

    const ins = JSON.parse((await runCli(['--dir', store, '--json', 'inspect', '-c', 'lines'])).stdout);
    expect(ins.manifest).toMatchObject({ version: 1, cause: 'publish', promotedDeltas: 7, count: 299 });
    // one data segment per group, and one of the records the file's update patched
    expect(ins.manifest.segments).toHaveLength(3);
    const seg = JSON.parse(
      (
        await runCli([
          '--dir',
          store,
          '--json',
          'inspect',
          '-c',
          'lines',
          '--segment',
          ins.manifest.segments[0].manifestSha256,
        ])
      ).stdout,
    );
    expect(seg.manifest.kind).toBe('data');
    expect(seg.manifest.files.map((f: { name: string }) => f.name)).toContain('records.sqlite');

    // optimize: one segment, same records
    const opt = await runCli(['--dir', store, '--json', 'optimize', '-c', 'lines', '--runner', 'inline']);
    expect(opt.code, opt.stderr).toBe(0);
    expect(JSON.parse(opt.stdout).published[0]).toMatchObject({ version: 2, inputs: 3 });
    const st2 = JSON.parse((await runCli(['--dir', store, '--json', 'status', '-c', 'lines'])).stdout);
    expect(st2.collections[0]).toMatchObject({ version: 2, count: 299, pendingMerges: [] });
    expect(st2.collections[0].segments).toHaveLength(1);

    const gc = await runCli(['--dir', store, '--json', 'gc', '--grace', '0s', '--dry-run']);
    expect(gc.code).toBe(0);
    expect(JSON.parse(gc.stdout).collections[0].kept.versions.sort()).toEqual([1, 2]);
  });

  it('exit code 2 and a coded message on bad usage; 1 with the code on a failed check; stack only with --verbose', async () => {
    await using t = await tempDir();
    const store = join(t.dir, 'store');
    const usage = await runCli(['--dir', store, 'compact', '--chunk-size', '0']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('E_USAGE');
    expect(usage.stderr).not.toMatch(/\n\s+at /);
    const unknown = await runCli(['--dir', store, 'frobnicate']);
    expect(unknown.code).toBe(2);

    const missing = await runCli(['--dir', store, 'status', '-c', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^E_COLLECTION_NOT_FOUND: collection nope does not exist \(collection=nope\)/,
    );
    const verbose = await runCli(['--dir', store, '--verbose', 'status', '-c', 'nope']);
    expect(verbose.stderr).toMatch(/\n\s+at /);

    // a corrupted segment file: verify fails with exit code 1 and names the problem
    const a = await ndjson(t.dir, 'a.jsonl', 0, 60);
    expect((await runCli(['--dir', store, 'ingest', a, '-c', 'lines'])).code).toBe(0);
    expect((await runCli(['--dir', store, 'compact', '--runner', 'inline'])).code).toBe(0);
    const segDir = join(store, 'objects', 'collections', 'lines', 'segments');
    const [seg] = await readdir(segDir);
    await appendFile(join(segDir, seg!, 'records.sqlite'), Buffer.from([1, 2, 3]));
    const bad = await runCli(['--dir', store, '--json', 'verify']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).ok).toBe(false);
    expect(JSON.stringify(JSON.parse(bad.stdout).collections[0].problems)).toContain('records.sqlite');
  });

  it('refuses a bad input file at ingest with its code, file and line, and accepts nothing from it', async () => {
    await using t = await tempDir();
    const store = join(t.dir, 'store');
    const path = join(t.dir, 'bad.jsonl');
    await writeFile(
      path,
      `${JSON.stringify({ id: 'a', embedding: [1, 2, 3] })}\n${JSON.stringify({ id: 'b', embedding: [1, 2] })}\n`,
    );
    const r = await runCli(['--dir', store, 'ingest', path, '-c', 'x', '--dimension', '3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^E_DIMENSION_MISMATCH: .*line/m);
    const st = JSON.parse((await runCli(['--dir', store, '--json', 'status'])).stdout);
    expect(st.collections).toEqual([]);
  });
});
