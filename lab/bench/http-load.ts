/**
 * An HTTP load generator in a child process, so the client's own work (serializing, parsing) runs beside
 * the server instead of on its event loop. runHttpLoad() posts `total` requests with `concurrency` in
 * flight and returns per-request latencies (ms) and the wall time.
 */
import { Agent, request } from 'node:http';
import { runChildJob } from './child-job.js';

const CHILD_FLAG = '--strata-http-load';

export interface HttpLoadJob {
  url: string;
  bodies: string[];
  concurrency: number;
  total: number;
  /** Stop starting requests after this long, whatever `total` says (a load that runs beside something). */
  durationMs?: number;
  headers?: Record<string, string>;
  /** Return each response body, by request index. */
  keepBodies?: boolean;
}

export interface HttpLoadResult {
  latencies: number[];
  wallMs: number;
  errors: string[];
  bodies?: string[];
}

/** One POST on a keep-alive connection (node:http: a lighter client than fetch, so it measures the server). */
function post(
  agent: Agent,
  url: URL,
  body: string,
  headers: Record<string, string>,
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
          ...headers,
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

async function run(job: HttpLoadJob): Promise<HttpLoadResult> {
  const latencies: number[] = [];
  const errors: string[] = [];
  const bodies: string[] = [];
  const url = new URL(job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  let next = 0;
  const t0 = performance.now();
  const until = job.durationMs === undefined ? Number.POSITIVE_INFINITY : t0 + job.durationMs;
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (next < job.total && performance.now() < until) {
        const i = next++;
        const t = performance.now();
        const res = await post(agent, url, job.bodies[i % job.bodies.length]!, job.headers ?? {});
        latencies.push(performance.now() - t);
        if (job.keepBodies) bodies[i] = res.text;
        if (res.status !== 200) errors.push(`${res.status} ${res.text.slice(0, 200)}`);
      }
    }),
  );
  agent.destroy();
  return { latencies, wallMs: performance.now() - t0, errors, ...(job.keepBodies ? { bodies } : {}) };
}

export function runHttpLoad(job: HttpLoadJob): Promise<HttpLoadResult> {
  return runChildJob<HttpLoadJob, HttpLoadResult>(import.meta.url, CHILD_FLAG, job, 'HTTP load');
}

if (process.argv.includes(CHILD_FLAG) && process.send) {
  process.once('message', (job: HttpLoadJob) => {
    void run(job).then((r) => process.send!(r, () => process.disconnect()));
  });
}
