/**
 * A private redis-server for one machine's demos, benchmarks and tests: Debian's `redis-server` on a free
 * 127.0.0.1 port, in its own temp directory, without persistence. Ready when it logs that it accepts
 * connections and answers PING; stop() waits for the process to exit and removes the directory.
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

  private constructor(
    readonly port: number,
    proc: OwnedProcess,
    dir: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.#proc = proc;
    this.#dir = dir;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** Starts one; retries on another port if the one picked was taken meanwhile. */
  static async start(o: { bin?: string; timeoutMs?: number } = {}): Promise<RedisServerProcess> {
    let last = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), 'strata-redis-'));
      const port = await freeLoopbackPort();
      const proc = new OwnedProcess(
        'redis-server',
        o.bin ?? 'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--daemonize',
          'no',
        ],
        { outputTail: 8_000 },
      );
      const ready = await proc.waitForOutput(/Ready to accept connections/, o.timeoutMs ?? 15_000);
      const server = new RedisServerProcess(port, proc, dir);
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
