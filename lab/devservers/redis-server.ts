/**
 * A private redis-server for one machine's demos, benchmarks and tests: Debian's `redis-server` on a free
 * 127.0.0.1 port, in its own temp directory, without persistence. Ready when it logs that it accepts
 * connections and answers PING; stop() waits for the process to exit and removes the directory.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ErrorCodes, StrataError } from '../../src/core/errors.js';
import { freeLoopbackPort } from '../../src/core/net.js';

export class RedisServerProcess implements AsyncDisposable {
  readonly url: string;
  #child: ChildProcess;
  #exited: Promise<void>;
  #dir: string;
  #stopping: Promise<void> | undefined;

  private constructor(
    readonly port: number,
    child: ChildProcess,
    exited: Promise<void>,
    dir: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.#child = child;
    this.#exited = exited;
    this.#dir = dir;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Starts one; retries on another port if the one picked was taken meanwhile. */
  static async start(o: { bin?: string; timeoutMs?: number } = {}): Promise<RedisServerProcess> {
    let last = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const dir = await mkdtemp(join(tmpdir(), 'strata-redis-'));
      const port = await freeLoopbackPort();
      const child = spawn(
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
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      const exited = new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.once('error', (e) => {
          output += `spawn failed: ${e.message}\n`;
          resolve();
        });
      });
      const ready = new Promise<boolean>((resolve) => {
        const onData = (b: Buffer) => {
          output = (output + b.toString('utf8')).slice(-8_000);
          if (/Ready to accept connections/.test(output)) resolve(true);
        };
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        void exited.then(() => resolve(false));
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), o.timeoutMs ?? 15_000);
      });
      const ok = await Promise.race([ready, timedOut]);
      clearTimeout(timer);
      const server = new RedisServerProcess(port, child, exited, dir);
      if (ok && (await server.#ping())) return server;
      last = output.trim();
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
      if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid !== undefined) {
        this.#child.kill('SIGTERM');
        const t = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
        await this.#exited;
        clearTimeout(t);
      }
      await rm(this.#dir, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
