/** STRATA_TORTURE_DEBUG=1: timestamped phase lines on stderr (where a slow or stuck run spends its time). */
const on = process.env.STRATA_TORTURE_DEBUG === '1';
const t0 = Date.now();

export function debug(msg: string): void {
  if (on) process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(2)}s] ${msg}\n`);
}
