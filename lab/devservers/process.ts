/**
 * Small helpers shared by the real-server harnesses (s3rver, Ceph, worker processes): free loopback ports,
 * command runs with a timeout, and readiness polling. The servers themselves are OwnedProcess children
 * (src/core/child-process.ts): stopped and awaited by their owner.
 */
import { execFile } from 'node:child_process';

export { freeLoopbackPort as freePort } from '../../src/core/net.js';

/** Runs a command to completion; rejects with its output on a non-zero exit or after `timeoutMs`. */
export async function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: opts.env, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
        } else resolve(stdout);
      },
    );
  });
}

/**
 * Polls `probe` until it returns a value (not undefined), every `everyMs`, for at most `timeoutMs`.
 * `alive` (if given) is checked first on every round: a dead server stops the wait at once.
 */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; everyMs?: number; alive?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  for (;;) {
    const dead = opts.alive?.();
    if (dead) throw new Error(`${what}: ${dead}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not ready after ${opts.timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
  }
}
