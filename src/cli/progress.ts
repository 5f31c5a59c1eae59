/**
 * Progress for long work: a bar per stage on a TTY (stderr), structured log lines otherwise. Never on
 * stdout, which belongs to the command's result (and to --json).
 */
import pino, { type Logger } from 'pino';

export interface Progress {
  stage(name: string, total: number): void;
  tick(name: string, done: number, total: number, note?: string): void;
  log(msg: string, fields?: Record<string, unknown>): void;
  done(): void;
}

export function createLogger(verbose: boolean): Logger {
  return pino({ level: verbose ? 'debug' : 'info', base: undefined }, pino.destination(2));
}

class TtyProgress implements Progress {
  #stages = new Map<string, { done: number; total: number; note?: string; t0?: number; t1?: number }>();
  #lines = 0;
  #stream = process.stderr;
  stage(name: string, total: number): void {
    this.#stages.set(name, { done: 0, total });
    this.#render();
  }
  tick(name: string, done: number, total: number, note?: string): void {
    const s = this.#stages.get(name) ?? { done: 0, total };
    s.t0 ??= Date.now();
    if (done >= total) s.t1 ??= Date.now();
    s.done = done;
    s.total = total;
    if (note !== undefined) s.note = note;
    this.#stages.set(name, s);
    this.#render();
  }
  log(msg: string): void {
    this.#clear();
    this.#stream.write(`${msg}\n`);
    this.#render();
  }
  #clear(): void {
    if (this.#lines > 0) this.#stream.write(`\x1b[${this.#lines}A\x1b[0J`);
    this.#lines = 0;
  }
  #render(): void {
    this.#clear();
    const width = 30;
    for (const [name, s] of this.#stages) {
      const frac = s.total > 0 ? s.done / s.total : 1;
      const filled = Math.round(frac * width);
      const secs = s.t0 === undefined ? '-' : `${(((s.t1 ?? Date.now()) - s.t0) / 1000).toFixed(1)}s`;
      this.#stream.write(
        `${name.padEnd(10)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(s.done).padStart(4)}/${s.total} ${secs}${s.note ? `  ${s.note}` : ''}\n`,
      );
      this.#lines++;
    }
  }
  done(): void {
    this.#render();
    this.#lines = 0;
  }
}

class LogProgress implements Progress {
  #last = new Map<string, number>();
  constructor(private readonly logger: Logger) {}
  stage(name: string, total: number): void {
    this.logger.info({ stage: name, total }, `${name}: started`);
  }
  tick(name: string, done: number, total: number, note?: string): void {
    // at most ~10 lines per stage
    const step = Math.max(1, Math.ceil(total / 10));
    const last = this.#last.get(name) ?? 0;
    if (done === total || done - last >= step) {
      this.#last.set(name, done);
      this.logger.info({ stage: name, done, total, ...(note ? { note } : {}) }, `${name}: ${done}/${total}`);
    }
  }
  log(msg: string, fields: Record<string, unknown> = {}): void {
    this.logger.info(fields, msg);
  }
  done(): void {}
}

class SilentProgress implements Progress {
  stage(): void {}
  tick(): void {}
  log(): void {}
  done(): void {}
}

export function createProgress(opts: { json: boolean; quiet?: boolean; logger: Logger }): Progress {
  if (opts.quiet) return new SilentProgress();
  if (process.stderr.isTTY && !opts.json) return new TtyProgress();
  return new LogProgress(opts.logger);
}
