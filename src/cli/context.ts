import type { Logger } from 'pino';
import { UsageError } from '../core/errors.js';
import { type ObjectStore, openStore, withS3Endpoint } from '../store/index.js';
import { createLogger, createProgress, type Progress } from './progress.js';

/** The global flags as commander parses them (named after the flags: `store` is --store's spec string). */
export interface GlobalOptions {
  dir?: string;
  store?: string;
  /** S3-compatible endpoint for an s3:// store (Ceph radosgw, MinIO, R2…); env STRATA_S3_ENDPOINT. */
  s3Endpoint?: string;
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
}

export interface CliContext {
  opts: GlobalOptions;
  storeSpec: string;
  logger: Logger;
  progress: Progress;
  /** Prints the command's result: JSON on --json, otherwise the human text. */
  out(result: unknown, human: () => string): void;
  openStore(): Promise<ObjectStore>;
}

export function storeSpecOf(o: GlobalOptions): string {
  if (o.store && o.dir) throw new UsageError('use either --store or --dir, not both');
  const spec = o.store ?? o.dir ?? process.env.STRATA_STORE ?? process.env.STRATA_DIR ?? './strata-data';
  if (o.s3Endpoint === undefined) return spec;
  if (!/^s3:\/\//i.test(spec)) {
    throw new UsageError('--s3-endpoint needs an s3:// store (--store s3://bucket/prefix)');
  }
  // carried in the spec's query, so that worker processes opening the same spec reach the same endpoint
  return withS3Endpoint(spec, o.s3Endpoint);
}

export function createContext(opts: GlobalOptions): CliContext {
  const logger = createLogger(!!opts.verbose);
  const storeSpec = storeSpecOf(opts);
  return {
    opts,
    storeSpec,
    logger,
    progress: createProgress({ json: !!opts.json, quiet: !!opts.quiet, logger }),
    out(result, human) {
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${human()}\n`);
    },
    openStore: () => openStore(storeSpec),
  };
}

/** Parses "30s", "10m", "2h", "500ms" or a bare number of milliseconds. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) throw new UsageError(`not a duration: ${s} (use e.g. 500ms, 30s, 10m, 2h)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

export function parseIntOption(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new UsageError(`${name} must be an integer in ${min}..${max}, got ${v}`);
    return n;
  };
}

/** Parses a number in 0..1 (a fraction or a recall). */
export function parseFraction(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
      throw new UsageError(`${name} must be a number in 0..1, got ${v}`);
    return n;
  };
}
