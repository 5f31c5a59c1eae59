/**
 * The one owner of the child processes Strata starts and must stop: servers (the private Chroma server of
 * `strata export chroma`; in lab/ and test/ the Redis, s3rver and Ceph dev servers and `strata worker` or
 * `strata serve` processes). A child is spawned with its output piped (the tail kept for error messages),
 * watched until it exits, and stopped by close(): SIGTERM, SIGKILL once the grace period is over, resolved
 * only after the process has exited — so every handle it held is closed by then. A child still running
 * when this process exits is SIGKILLed, so a crashed parent leaves no server behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** How a child ended. `error` is set when it could not be started at all (ENOENT, EACCES…). */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

export interface ChildProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How much of the interleaved stdout and stderr to keep, in characters (default 20,000). */
  outputTail?: number;
  /** How long close() lets SIGTERM work before it sends SIGKILL (default 5 s). */
  stopTimeoutMs?: number;
}

/** What waitForOutput() saw first: the pattern, the process's exit, or the deadline. */
export type OutputWait =
  | { readonly ok: true; readonly match: RegExpExecArray }
  | { readonly ok: false; readonly reason: 'exited'; readonly exit: ChildExit }
  | { readonly ok: false; readonly reason: 'timeout' };

/** Every owned child still running: SIGKILLed if this process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function ownUntilExit(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  running.add(child);
}

export class OwnedProcess implements AsyncDisposable {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the process has exited (or failed to start); never rejects. */
  readonly exited: Promise<ChildExit>;
  readonly #closed: Promise<void>;
  readonly #stopTimeoutMs: number;
  readonly #onOutput = new Set<() => void>();
  #output = '';
  #exit: ChildExit | undefined;
  #stopping: Promise<ChildExit> | undefined;

  constructor(name: string, command: string, args: readonly string[], opts: ChildProcessOptions = {}) {
    this.name = name;
    this.#stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
    const tail = opts.outputTail ?? 20_000;
    this.child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    ownUntilExit(this.child);
    const keep = (b: Buffer) => {
      this.#output = (this.#output + b.toString('utf8')).slice(-tail);
      for (const f of this.#onOutput) f();
    };
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
    this.#closed = new Promise((resolve) => this.child.once('close', () => resolve()));
    this.exited = new Promise((resolve) => {
      const done = (exit: ChildExit) => {
        if (this.#exit) return;
        this.#exit = exit;
        running.delete(this.child);
        resolve(exit);
      };
      this.child.on('error', (e) => {
        // after a successful spawn, 'error' means a signal could not be sent: the process is still there
        if (this.child.pid !== undefined) return;
        this.#output += `spawn failed: ${e.message}\n`;
        done({ code: null, signal: null, error: e });
      });
      this.child.once('exit', (code, signal) => done({ code, signal }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last few KB the process printed (stdout and stderr interleaved), for error messages. */
  get output(): string {
    return this.#output;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Sends `signal` if the process is still running; says whether it did. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): boolean {
    if (!this.running || this.child.pid === undefined) return false;
    return this.child.kill(signal);
  }

  /**
   * Resolves as soon as the output matches `pattern`, the process exits, or `timeoutMs` passes, saying
   * which. After an exit it first lets the output drain (until the pipes close or the deadline), so the
   * tail in `output` holds the reason the process gave.
   */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<OutputWait> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (w: OutputWait) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#onOutput.delete(check);
        resolve(w);
      };
      const check = () => {
        const match = pattern.exec(this.#output);
        if (match) finish({ ok: true, match });
      };
      const timer = setTimeout(
        () =>
          finish(
            this.#exit ? { ok: false, reason: 'exited', exit: this.#exit } : { ok: false, reason: 'timeout' },
          ),
        timeoutMs,
      );
      this.#onOutput.add(check);
      check();
      void this.exited.then(async (exit) => {
        if (settled) return;
        await this.#closed;
        check();
        finish({ ok: false, reason: 'exited', exit });
      });
    });
  }

  /**
   * SIGTERM, then SIGKILL after `graceMs` (default: the stopTimeoutMs option); resolves with the exit
   * once the process has exited. Idempotent: later calls share the first one.
   */
  stop(graceMs: number = this.#stopTimeoutMs): Promise<ChildExit> {
    this.#stopping ??= (async () => {
      if (this.kill('SIGTERM')) {
        const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
        try {
          await this.exited;
        } finally {
          clearTimeout(timer);
        }
      }
      const exit = await this.exited;
      this.child.stdout?.destroy();
      this.child.stderr?.destroy();
      return exit;
    })();
    return this.#stopping;
  }

  /** stop() with the default grace period. */
  async close(): Promise<void> {
    await this.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
