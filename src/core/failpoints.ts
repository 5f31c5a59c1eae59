/**
 * Failpoints: named places where a test (or the torture campaign) can make the process die abruptly.
 *
 *   STRATA_FAILPOINTS="publish.before-pointer=crash"            exit 137 at that point, every time
 *   STRATA_FAILPOINTS="segment.after-write=crash@2"            only the 2nd time the point is reached
 *   STRATA_FAILPOINTS="a=crash;b=error"                         `error` throws a coded error instead
 *   STRATA_FAILPOINTS="step.chunk=crash-once"                   crash the first process to get there, across
 *                                                               processes (a marker file in STRATA_FAILPOINT_DIR)
 *   STRATA_FAILPOINTS="publish.before-pointer=stop"             freeze there (SIGSTOP to itself) until someone sends
 *                                                               SIGCONT, then carry on (a paused VM, a long GC pause)
 *
 * `crash` uses process.kill(process.pid, 'SIGKILL'): no finally blocks, no exit handlers, no flushing —
 * the same as the OOM killer or a pulled plug.
 */
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, StrataError } from './errors.js';

export const FAILPOINTS = [
  'segment.after-write', // rows written, before close
  'segment.after-close', // closed, before verify
  'segment.after-verify', // verified, before upload
  'publish.before-pointer', // uploaded, before the pointer swap
  'publish.after-lease-check', // the lease re-checked, right before the pointer's compare-and-swap
  'publish.after-pointer', // pointer swapped, before the ledger/run record is updated
  'lease.mid-heartbeat', // inside a heartbeat, between read and conditional write
  'step.chunk', // inside a chunk step
  'step.group', // inside a group step
  'step.final', // inside the final step (the new version)
  'step.merge', // inside a merge step, before the merged segment is written
  'merge.before-pointer', // a merge built and uploaded, before its pointer swap
  'ingest.after-data', // delta data written, before its descriptor (acceptance)
  'store.put.partial', // a local store put, after writing half of the temp file
] as const;
export type FailpointName = (typeof FAILPOINTS)[number];

interface Rule {
  action: 'crash' | 'error' | 'crash-once' | 'stop';
  nth: number | null;
}

let rules: Map<string, Rule> | null = null;
const hits = new Map<string, number>();

function parse(spec: string | undefined): Map<string, Rule> {
  const m = new Map<string, Rule>();
  if (!spec) return m;
  for (const part of spec.split(/[;,]/)) {
    const t = part.trim();
    if (!t) continue;
    const [name, rhs = 'crash'] = t.split('=');
    const [action, nth] = rhs.split('@');
    if (action !== 'crash' && action !== 'error' && action !== 'crash-once' && action !== 'stop') continue;
    m.set(name!.trim(), { action, nth: nth ? Number(nth) : null });
  }
  return m;
}

/** Re-read STRATA_FAILPOINTS (tests that set it in-process call this). */
export function reloadFailpoints(spec: string | undefined = process.env.STRATA_FAILPOINTS): void {
  rules = parse(spec);
  hits.clear();
}

export function failpoint(name: FailpointName): void {
  if (rules === null) rules = parse(process.env.STRATA_FAILPOINTS);
  if (rules.size === 0) return;
  const r = rules.get(name);
  if (!r) return;
  const n = (hits.get(name) ?? 0) + 1;
  hits.set(name, n);
  if (r.nth !== null && r.nth !== n) return;
  if (r.action === 'crash-once') {
    const dir = process.env.STRATA_FAILPOINT_DIR;
    if (!dir) return;
    try {
      closeSync(openSync(join(dir, `fired-${name}`), 'wx'));
    } catch {
      return; // another process already fired it
    }
    process.kill(process.pid, 'SIGKILL');
  }
  if (r.action === 'crash') {
    process.kill(process.pid, 'SIGKILL');
  }
  if (r.action === 'stop') {
    process.kill(process.pid, 'SIGSTOP');
    return;
  }
  throw new StrataError(ErrorCodes.INTERNAL, `failpoint ${name} fired`, { failpoint: name });
}
