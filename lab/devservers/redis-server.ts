/**
 * A private redis-server for one machine's demos, benchmarks and tests: Debian's `redis-server` on a free
 * 127.0.0.1 port, in its own temp directory, without persistence — or, with `persistent`, as a user runs it
 * for a durable queue: `appendonly yes`, `appendfsync everysec` (at most the last second of writes is lost
 * when the process dies). Ready when it logs that it accepts connections and answers PING; kill() SIGKILLs
 * it (the data directory stays), restart() starts it again on the same port and directory; stop() waits
 * for the process to exit and removes the directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { OwnedProcess } from '../../src/core/child-process.js';
import { ErrorCodes, StrataError } from '../../src/core/errors.js';
import { freeLoopbackPort } from '../../src/core/net.js';

export class RedisServerProcess implements AsyncDisposable {
  readonly url: string;
  #proc: OwnedProcess;
  #dir: string;
  #stopping: Promise<void> | undefined;

  readonly persistent: boolean;
  readonly #bin: string;

  private constructor(
    readonly port: number,
    proc: OwnedProcess,
    dir: string,
    persistent: boolean,
    bin: string,
  ) {
    this.persistent = persistent;
    this.#bin = bin;
    this.url = `redis://127.0.0.1:${port}`;
    this.#proc = proc;
    this.#dir = dir;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** Starts one; retries on another port if the one picked was taken meanwhile. */
  static #spawn(bin: string, port: number, dir: string, persistent: boolean): OwnedProcess {
    return new OwnedProcess(
      'redis-server',
      bin,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        ...(persistent ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
        '--daemonize',
        'no',
      ],
      { outputTail: 8_000 },
    );
  }

  static async start(
    o: { bin?: string; timeoutMs?: number; persistent?: boolean } = {},
  ): Promise<RedisServerProcess> {
    let last = '';
    const bin = o.bin ?? 'redis-server';
    const persistent = o.persistent ?? false;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), 'strata-redis-'));
      const port = await freeLoopbackPort();
      const proc = RedisServerProcess.#spawn(bin, port, dir, persistent);
      const ready = await proc.waitForOutput(/Ready to accept connections/, o.timeoutMs ?? 15_000);
      const server = new RedisServerProcess(port, proc, dir, persistent, bin);
      if (ready.ok && (await server.#ping())) return server;
      last = proc.output.trim();
      await server.stop();
      if (!/Address already in use/i.test(last)) break;
    }
    throw new StrataError(
      ErrorCodes.INTERNAL,
      `cannot start redis-server (Debian package redis-server): ${last}`,
      {
        bin: o.bin ?? 'redis-server',
      },
    );
  }

  async #ping(): Promise<boolean> {
    const c = new Redis({
      host: '127.0.0.1',
      port: this.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    c.on('error', () => {});
    try {
      await c.connect();
      return (await c.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      c.disconnect();
    }
  }

  /** SIGKILL (a crash, the OOM killer): the data directory stays for restart(). */
  async kill(): Promise<void> {
    this.#proc.kill('SIGKILL');
    await this.#proc.exited;
  }

  /** Starts the server again on the same port and directory (after kill()); resolves once it answers. */
  async restart(timeoutMs = 15_000): Promise<void> {
    if (this.#proc.running) await this.kill();
    this.#proc = RedisServerProcess.#spawn(this.#bin, this.port, this.#dir, this.persistent);
    const ready = await this.#proc.waitForOutput(/Ready to accept connections/, timeoutMs);
    if (!ready.ok || !(await this.#ping()))
      throw new Error(
        `redis-server did not come back on port ${this.port}: ${this.#proc.output.slice(-2000)}`,
      );
  }

  /** SIGTERM (SIGKILL after 5 s), waits for the exit, removes the directory. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#proc.stop(5_000);
      await rm(this.#dir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
