/**
 * Read-your-writes in the serve section: what the query server's tail of acknowledged, unpublished writes
 * costs, on the version serve.ts serves (the demo after its rounds and swaps), each against a baseline of
 * the same run:
 *  1. query p50 over HTTP with a tail of 1,000 and of 10,000 new records vs the p50 without a tail — the
 *     baseline is a second server on the same store that serves the version alone (readYourWrites off),
 *     queried in alternating blocks with the first, so machine load hits both alike; plus the same
 *     comparison in process (the tail's view vs the version's, query by query);
 *  2. the tail's memory: the process's heap + array buffers and RSS (after a full GC) before and after the
 *     10,000 records were written, against their vectors' bytes, and the tail's own accounting;
 *  3. write → visible under a steady stream of 50 records/s (one upsert every 20 ms, sent on schedule
 *     whatever the previous ones took) while 8 clients query as fast as they can: a writer and a watcher
 *     in processes of their own; the watcher polls `get` for the ids written next and notes when each is
 *     first returned. Reported from the writer's acknowledgement and from the write being sent. Run once
 *     with the tail only growing, once with a compaction published (and swapped in) every few seconds.
 */
import { Agent, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { queryRows } from '../../src/server/read-ops.js';
import { StrataServer } from '../../src/server/server.js';
import type { ObjectStore } from '../../src/store/index.js';
import { generateRecords } from '../../src/workload/synthetic.js';
import { runChildJob } from './child-job.js';
import { runHttpLoad } from './http-load.js';
import { type BenchRow, median, percentile, round } from './stats.js';
import { compactWithPool, fmtMB, fmtMs, fmtN, fmtX } from './workload.js';

const CHILD_FLAG = '--strata-bench-tail';
/** Offsets of the records written (beyond any collection's own; the generator walks to an offset). */
const TAIL_OFFSET = 100_000;
const STREAM_OFFSET = 200_000;
const ms = (x: number) => `${round(x, 3)} ms`;
/** Absolute time in ms, comparable between processes on one machine. */
const now = () => performance.timeOrigin + performance.now();

export interface TailBenchOptions {
  server: StrataServer;
  store: ObjectStore;
  /** The local store's directory (compactions run through a local pool on it). */
  dir: string;
  collection: string;
  token: string;
  dimension: number;
  /** Query bodies (k=10, default include). */
  bodies: string[];
  /** Tail sizes to query with (default 1,000 and 10,000; the memory is measured at the largest). */
  sizes?: number[];
  /** Seconds of each write → visible run (default 30). */
  streamSeconds?: number;
  log: (m: string) => void;
}

export interface StreamJob {
  role: 'writer' | 'watcher';
  base: string;
  token: string;
  dimension: number;
  /** Records to write, one every `everyMs`, ids `prefix-i`. */
  count: number;
  everyMs: number;
  prefix: string;
  seed: number;
  /** The writer starts at this absolute time (both processes agree on the schedule). */
  startAt: number;
}

interface StreamResult {
  sent?: number[];
  acked?: number[];
  seen?: number[];
  errors: string[];
  polls?: number;
}

const gc = (() => {
  let fn: (() => void) | undefined;
  return () => {
    if (!fn) {
      setFlagsFromString('--expose-gc');
      fn = runInNewContext('gc') as () => void;
    }
    fn();
    fn();
  };
})();

function memory() {
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, external: m.external, rss: m.rss };
}

function upsertBodies(seed: number, offset: number, count: number, dim: number, batch: number): string[] {
  const out: string[] = [];
  let cur: { ids: string[]; embeddings: number[][]; metadatas: unknown[]; documents: string[] } | undefined;
  for (const r of generateRecords({ seed, count, dimension: dim, offset })) {
    cur ??= { ids: [], embeddings: [], metadatas: [], documents: [] };
    cur.ids.push(r.id);
    cur.embeddings.push(Array.from(r.embedding));
    cur.metadatas.push(r.metadata ?? null);
    cur.documents.push(r.document ?? '');
    if (cur.ids.length === batch) {
      out.push(JSON.stringify(cur));
      cur = undefined;
    }
  }
  if (cur) out.push(JSON.stringify(cur));
  return out;
}

export async function benchServeTail(o: TailBenchOptions): Promise<{ rows: BenchRow[]; data: unknown }> {
  const { server, collection, token, dimension: dim, log } = o;
  const rows: BenchRow[] = [];
  const data: Record<string, unknown> = {};
  const entry = await server.ctx.catalog.resolve('default_tenant', 'default_database', collection);
  const path = `/api/v2/tenants/default_tenant/databases/default_database/collections/${entry.chroma.id}`;
  const auth = { authorization: `Bearer ${token}` };
  const tails = server.ctx.tails;
  if (!tails) throw new Error('the server has no tails (readYourWrites off)');
  // The baseline: the same version served without a tail, by a second server on the same store.
  const bare = await StrataServer.start({
    store: o.store,
    port: 0,
    token,
    refreshMs: 60_000,
    readYourWrites: false,
    followStore: false,
  });
  try {
    const tailUrl = `${server.url}${path}/query`;
    const bareUrl = `${bare.url}${path}/query`;
    await runHttpLoad({ url: bareUrl, bodies: o.bodies, concurrency: 2, total: 100 });
    await runHttpLoad({ url: tailUrl, bodies: o.bodies, concurrency: 2, total: 100 });
    /** Alternating blocks of c=1 queries against both servers: p50 of each. */
    const compare = async () => {
      const a: number[] = [];
      const b: number[] = [];
      const block = Math.min(100, o.bodies.length);
      for (let rep = 0; rep < 4; rep++) {
        const bodies = o.bodies.slice(0, block);
        for (const [url, into] of rep % 2 === 0
          ? ([
              [tailUrl, a],
              [bareUrl, b],
            ] as const)
          : ([
              [bareUrl, b],
              [tailUrl, a],
            ] as const)) {
          const r = await runHttpLoad({ url, bodies, concurrency: 1, total: block });
          if (r.errors.length > 0) throw new Error(`queries failed: ${r.errors[0]}`);
          into.push(...r.latencies);
        }
      }
      // in process: the tail's view and the version's, query by query
      const acquired = await server.ctx.snapshots.acquireView(collection);
      const inTail: number[] = [];
      const inBare: number[] = [];
      try {
        const withTail = acquired.view!;
        const alone = server.ctx.snapshots.current(collection)!.view;
        const queries = o.bodies.map((s) =>
          Float32Array.from((JSON.parse(s) as { query_embeddings: number[][] }).query_embeddings[0]!),
        );
        for (let rep = 0; rep < 2; rep++) {
          for (const q of queries) {
            let t = performance.now();
            queryRows(withTail, [q], 10, {});
            const x = performance.now() - t;
            t = performance.now();
            queryRows(alone, [q], 10, {});
            const y = performance.now() - t;
            if (rep === 1) {
              inTail.push(x);
              inBare.push(y);
            }
          }
        }
      } finally {
        acquired.release();
      }
      return {
        http: [median(a), median(b)],
        inProcess: [median(inTail), median(inBare)],
        p99: percentile(a, 99),
      };
    };

    // --- 1 and 2: tails of 1,000 and 10,000 new records -----------------------------------------------
    const sizes = o.sizes ?? [1_000, 10_000];
    const goals = new Map([
      [1_000, 1.1],
      [10_000, 1.5],
    ]);
    const before = memory();
    let written = 0;
    const perSize: Array<Record<string, unknown>> = [];
    let memoryRow: Record<string, number> | undefined;
    for (const size of sizes) {
      const bodies = upsertBodies(7, TAIL_OFFSET + written, size - written, dim, 100);
      log(`serve: tail of ${fmtN(size)} records (writing ${fmtN(size - written)} through the API)`);
      const w = await runHttpLoad({
        url: `${server.url}${path}/upsert`,
        bodies,
        concurrency: 2,
        total: bodies.length,
        headers: auth,
      });
      if (w.errors.length > 0) throw new Error(`upserts failed: ${w.errors[0]}`);
      written = size;
      const tail = tails.get(collection)!;
      if (tail.records !== size) throw new Error(`the tail holds ${tail.records} records, not ${size}`);
      const c = await compare();
      const ratio = c.http[0]! / c.http[1]!;
      const ratioIn = c.inProcess[0]! / c.inProcess[1]!;
      perSize.push({ size, ...c, tailBytes: tail.bytes });
      const goal = goals.get(size);
      rows.push({
        bench: `serve: query with a tail of ${fmtN(size)} new records (${dim}-d), HTTP c=1, alternating blocks`,
        metric:
          'query p50 with the tail vs the same version served without one (in process: tail view vs version view)',
        strata: `${ms(c.http[0]!)} (in process ${ms(c.inProcess[0]!)})`,
        baseline: `${ms(c.http[1]!)} (in process ${ms(c.inProcess[1]!)})`,
        ratio: `${fmtX(ratio)} (in process ${fmtX(ratioIn)})`,
        goal: goal ? `≤ ${goal}×` : 'report',
        met: goal ? ratio <= goal : null,
      });
      if (size === sizes[sizes.length - 1]) {
        const after = memory();
        const vectors = size * dim * 4;
        memoryRow = {
          records: size,
          vectorBytes: vectors,
          heapDelta: after.heap - before.heap,
          externalDelta: after.external - before.external,
          rssDelta: after.rss - before.rss,
          tailBytes: tail.bytes,
        };
        const budget = 1.2 * vectors + 20 * 2 ** 20;
        const worst = Math.max(after.heap - before.heap, after.rss - before.rss);
        rows.push({
          bench: `serve: tail of ${fmtN(size)} records (${dim}-d), server process after a full GC`,
          metric:
            'memory the tail added: RSS delta (heap + array buffers delta); the tail’s own count of its bytes',
          strata: `${fmtMB(after.rss - before.rss)} (${fmtMB(after.heap - before.heap)}); tail counts ${fmtMB(tail.bytes)}`,
          baseline: `${fmtMB(vectors)} f32 vectors`,
          ratio: `${fmtX(worst / vectors)}`,
          goal: `≤ 1.2× vectors + 20 MB = ${fmtMB(budget)}`,
          met: worst <= budget,
        });
      }
    }
    data.sizes = perSize;
    data.memory = memoryRow;

    // publish what the tail holds, so the stream starts on an empty tail
    log('serve: publishing the tail (compaction, merge none), then the write → visible runs');
    await compactWithPool(o.store, o.dir, collection, { merge: 'none' });
    await server.ctx.snapshots.refresh(collection);
    if ((tails.get(collection)?.records ?? 0) !== 0)
      throw new Error('the tail did not empty after a publish');

    // --- 3. write → visible ---------------------------------------------------------------------------
    const seconds = o.streamSeconds ?? 30;
    const stream = async (label: string, prefix: string, compactEveryMs: number) => {
      const count = seconds * 50;
      const startAt = now() + 1_500;
      const job: Omit<StreamJob, 'role'> = {
        base: `${server.url}${path}`,
        token,
        dimension: dim,
        count,
        everyMs: 20,
        prefix,
        seed: 11,
        startAt,
      };
      const swaps0 = server.ctx.snapshots.swaps;
      const queries = runHttpLoad({
        url: tailUrl,
        bodies: o.bodies,
        concurrency: 8,
        total: Number.MAX_SAFE_INTEGER,
        durationMs: seconds * 1000 + 3_000,
      });
      const writer = runChild({ ...job, role: 'writer' });
      const watcher = runChild({ ...job, role: 'watcher' });
      let compactions = 0;
      let stop = false;
      const compactor = (async () => {
        if (compactEveryMs <= 0) return;
        while (!stop) {
          await new Promise((r) => setTimeout(r, compactEveryMs));
          if (stop) break;
          await compactWithPool(o.store, o.dir, collection, { merge: 'none' });
          await server.ctx.snapshots.refresh(collection);
          compactions++;
        }
      })();
      const [w, v, q] = await Promise.all([writer, watcher, queries]);
      stop = true;
      await compactor;
      const errors = [...w.errors, ...v.errors, ...q.errors];
      if (errors.length > 0) throw new Error(`write → visible (${label}): ${errors[0]}`);
      const fromAck: number[] = [];
      const fromSend: number[] = [];
      let missing = 0;
      for (let i = 0; i < count; i++) {
        const seen = v.seen![i];
        if (seen === undefined || seen <= 0) {
          missing++;
          continue;
        }
        fromAck.push(seen - w.acked![i]!);
        fromSend.push(seen - w.sent![i]!);
      }
      const lateness = w.sent!.map((t, i) => t - (startAt + i * 20));
      const r = {
        label,
        records: count,
        missing,
        polls: v.polls,
        fromAckP50: median(fromAck),
        fromAckP95: percentile(fromAck, 95),
        fromAckMax: Math.max(...fromAck),
        fromSendP50: median(fromSend),
        fromSendP95: percentile(fromSend, 95),
        ackP50: median(w.acked!.map((t, i) => t - w.sent![i]!)),
        ackP95: percentile(
          w.acked!.map((t, i) => t - w.sent![i]!),
          95,
        ),
        sendLatenessP95: percentile(lateness, 95),
        queries: q.latencies.length,
        qps: q.latencies.length / (q.wallMs / 1000),
        queryP50: median(q.latencies),
        queryP95: percentile(q.latencies, 95),
        swaps: server.ctx.snapshots.swaps - swaps0,
        compactions,
        tailAtEnd: tails.get(collection)?.records ?? 0,
      };
      log(
        `serve: write → visible (${label}): p50 ${fmtMs(r.fromAckP50)} p95 ${fmtMs(r.fromAckP95)} from the ack; ${fmtMs(r.fromSendP95)} p95 from the send; ${r.queries} queries (p50 ${fmtMs(r.queryP50)}), ${r.swaps} swaps`,
      );
      return r;
    };
    const plain = await stream('tail only', 'rw-a', 0);
    const compacting = await stream('compaction every 5 s', 'rw-b', 5_000);
    data.writeVisible = [plain, compacting];
    for (const r of [plain, compacting]) {
      rows.push({
        bench: `serve: write → visible, 50 records/s (1 per request, ${dim}-d) for ${seconds} s while 8 clients query (${fmtN(r.queries)} queries, ${round(r.qps, 0)} QPS, p50 ${ms(r.queryP50)}); ${r.label}${r.compactions > 0 ? ` (${r.compactions} published, ${r.swaps} swaps)` : ''}`,
        metric:
          'acknowledged write → first `get` by another client that returns it: p50 / p95 (from the write being sent: p95; the ack itself: p50 / p95)',
        strata: `${fmtMs(r.fromAckP50)} / ${fmtMs(r.fromAckP95)} (from send ${fmtMs(r.fromSendP95)}; ack ${fmtMs(r.ackP50)} / ${fmtMs(r.ackP95)})${r.missing > 0 ? `; ${r.missing} of ${r.records} never seen by the watcher` : ''}`,
        baseline: 'Chroma 1.0 here: last add found ≈ 20 ms later',
        ratio: '-',
        goal: r.compactions > 0 ? 'report' : 'p95 ≤ 50 ms',
        met: r.compactions > 0 ? null : r.missing === 0 && r.fromAckP95 <= 50,
      });
    }
    return { rows, data };
  } finally {
    await bare.close();
  }
}

export function runChild(job: StreamJob): Promise<StreamResult> {
  return runChildJob<StreamJob, StreamResult>(import.meta.url, CHILD_FLAG, job, job.role);
}

function post(
  agent: Agent,
  url: string,
  body: string,
  token: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sleepUntil = (t: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, t - now())));

/** One upsert every `everyMs`, sent on schedule (open loop): when each was sent and acknowledged. */
async function writer(job: StreamJob): Promise<StreamResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const bodies: string[] = [];
  let i = 0;
  for (const r of generateRecords({
    seed: job.seed,
    count: job.count,
    dimension: job.dimension,
    offset: STREAM_OFFSET,
  })) {
    bodies.push(
      JSON.stringify({
        ids: [`${job.prefix}-${i++}`],
        embeddings: [Array.from(r.embedding)],
        metadatas: [r.metadata ?? null],
        documents: [r.document ?? ''],
      }),
    );
  }
  const sent: number[] = [];
  const acked: number[] = [];
  const errors: string[] = [];
  const pending: Promise<void>[] = [];
  for (let k = 0; k < job.count; k++) {
    await sleepUntil(job.startAt + k * job.everyMs);
    sent[k] = now();
    pending.push(
      post(agent, `${job.base}/upsert`, bodies[k]!, job.token).then(
        (res) => {
          acked[k] = now();
          if (res.status !== 200) errors.push(`upsert ${res.status} ${res.text.slice(0, 200)}`);
        },
        (e: unknown) => {
          errors.push(String(e));
        },
      ),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return { sent, acked, errors };
}

/** Polls `get` for the ids written next (one request in flight): when each was first returned. */
async function watcher(job: StreamJob): Promise<StreamResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const seen: number[] = new Array(job.count).fill(0);
  const errors: string[] = [];
  let lo = 0;
  let polls = 0;
  // on a loaded machine acknowledgements can lag the schedule by tens of seconds: wait for them
  const deadline = job.startAt + job.count * job.everyMs + 180_000;
  await sleepUntil(job.startAt - 200);
  while (lo < job.count && now() < deadline) {
    // every id whose write is due by now (and the next), not yet seen
    const hi = Math.min(job.count, Math.floor((now() - job.startAt) / job.everyMs) + 2);
    const ids: string[] = [];
    for (let k = lo; k < hi; k++) if (!seen[k]) ids.push(`${job.prefix}-${k}`);
    if (ids.length === 0) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    const res = await post(agent, `${job.base}/get`, JSON.stringify({ ids, include: [] }), job.token);
    const at = now();
    polls++;
    if (res.status !== 200) {
      errors.push(`get ${res.status} ${res.text.slice(0, 200)}`);
      break;
    }
    for (const id of (JSON.parse(res.text) as { ids: string[] }).ids) {
      const k = Number(id.slice(job.prefix.length + 1));
      if (!seen[k]) seen[k] = at;
    }
    while (lo < job.count && seen[lo]) lo++;
  }
  agent.destroy();
  return { seen, errors, polls };
}

if (process.argv.includes(CHILD_FLAG) && process.send) {
  process.once('message', (job: StreamJob) => {
    void (job.role === 'writer' ? writer(job) : watcher(job)).then(
      (r) => process.send!(r, () => process.disconnect()),
      (e: unknown) => process.send!({ errors: [String(e)] }, () => process.disconnect()),
    );
  });
}
