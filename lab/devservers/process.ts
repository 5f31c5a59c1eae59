/**
 * Small helpers shared by the real-server harnesses (s3rver, Ceph): free loopback ports, owned child
 * processes that are stopped and awaited, command runs with a timeout, and readiness polling.
 */
import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process';

export { freeLoopbackPort as freePort } from '../../src/core/net.js';

/** Every OwnedProcess still running; killed if this process exits without stopping them (a crashed suite). */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of running) c.kill('SIGKILL');
  });
}

/** A child process this harness started: its output is kept (the tail, for error messages). */
export class OwnedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #output = '';
  #done = false;

  constructor(name: string, command: string, args: string[], opts: SpawnOptions = {}) {
    this.name = name;
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    installExitHook();
    running.add(this.child);
    const keep = (b: Buffer) => {
      this.#output = (this.#output + b.toString('utf8')).slice(-20_000);
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (e) => {
        keep(Buffer.from(`spawn failed: ${e.message}\n`));
        running.delete(this.child);
        this.#done = true;
        resolve({ code: null, signal: null });
      });
      this.child.on('exit', (code, signal) => {
        running.delete(this.child);
        this.#done = true;
        resolve({ code, signal });
      });
    });
  }

  get output(): string {
    return this.#output;
  }
  get running(): boolean {
    return !this.#done;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    await this.exited;
  }
}

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
