/**
 * S3 store options from a store spec (`s3://bucket/prefix?endpoint=…&region=…`), the environment and
 * explicit overrides (in that order of increasing precedence: env < URL query < overrides).
 *
 * URL query (never credentials: URLs end up in logs):
 *   endpoint=http://127.0.0.1:9000   a non-AWS endpoint (Ceph radosgw, MinIO, R2…)
 *   region=us-east-1
 *   forcePathStyle=true|false        default: true when an endpoint is given, else the SDK's default
 *   ifMatchQuoting=quoted|unquoted   radosgw 16 accepts If-Match only with the bare ETag: `unquoted`
 *   partSizeMiB=16  partConcurrency=4
 * Environment:
 *   STRATA_S3_ENDPOINT, STRATA_S3_REGION, STRATA_S3_FORCE_PATH_STYLE=1, STRATA_S3_IFMATCH_UNQUOTED=1,
 *   STRATA_S3_ACCESS_KEY_ID + STRATA_S3_SECRET_ACCESS_KEY (+ STRATA_S3_SESSION_TOKEN): explicit credentials.
 *   Without them the standard AWS chain applies (AWS_ACCESS_KEY_ID…, AWS_PROFILE, SSO, IMDS/ECS roles),
 *   and so do AWS_REGION / AWS_ENDPOINT_URL_S3 through the SDK itself.
 */
import { UsageError } from '../../core/errors.js';
import { validateKey } from '../keys.js';

export type IfMatchQuoting = 'quoted' | 'unquoted';

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3ConnectionOptions {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise the standard AWS provider chain. */
  credentials?: S3Credentials;
  /**
   * How an If-Match ETag is sent. 'quoted' (default) is the HTTP/AWS form. 'unquoted' is a compatibility
   * mode for Ceph radosgw 16, which compares the header verbatim against its bare ETag; it is chosen
   * explicitly, never guessed, so AWS behaviour is never weakened.
   */
  ifMatchQuoting?: IfMatchQuoting;
  /** Multipart part size in bytes (default 16 MiB; at least 5 MiB, S3's minimum). */
  partSize?: number;
  /** Parts in flight per upload (default 4): memory per putFile ≤ partSize × partConcurrency. */
  partConcurrency?: number;
}

export interface S3Location {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing '/' ('' for the bucket root). */
  prefix: string;
}

const MIB = 1 << 20;
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$/;
const QUERY_KEYS = new Set([
  'endpoint',
  'region',
  'forcePathStyle',
  'ifMatchQuoting',
  'partSizeMiB',
  'partConcurrency',
]);

function bool(v: string, what: string, spec: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new UsageError(`${what} must be true or false, got ${JSON.stringify(v)}`, { store: spec });
}

function positiveInt(v: string, what: string, spec: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${what} must be a positive integer, got ${v}`, { store: spec });
  return n;
}

function quoting(v: string, spec: string): IfMatchQuoting {
  if (v === 'quoted' || v === 'unquoted') return v;
  throw new UsageError(`ifMatchQuoting must be "quoted" or "unquoted", got ${JSON.stringify(v)}`, {
    store: spec,
  });
}

function endpointUrl(v: string, spec: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new UsageError(`S3 endpoint is not a URL: ${v}`, { store: spec });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`S3 endpoint must be http(s)://…, got ${v}`, { store: spec });
  }
  if (u.username || u.password) {
    throw new UsageError('S3 endpoint must not carry credentials (use the environment)', { store: spec });
  }
  return v.replace(/\/+$/, '');
}

/** Parses `s3://bucket/prefix[?query]`. */
export function parseS3Spec(spec: string): S3Location & { query: S3ConnectionOptions } {
  const m = /^s3:\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(spec);
  if (!m) throw new UsageError('not an S3 store URL (use s3://bucket/prefix)', { store: spec });
  const bucket = m[1]!;
  if (!BUCKET.test(bucket))
    throw new UsageError(`not a valid bucket name: ${JSON.stringify(bucket)}`, { store: spec });
  let prefix: string;
  try {
    prefix = decodeURIComponent(m[2]!).replace(/^\/+/, '').replace(/\/+$/, '');
  } catch {
    throw new UsageError('S3 key prefix is not valid percent-encoding', { store: spec });
  }
  if (prefix !== '') {
    try {
      validateKey(prefix);
    } catch (e) {
      throw new UsageError(`not a valid S3 key prefix: ${(e as Error).message}`, { store: spec });
    }
  }
  const query: S3ConnectionOptions = {};
  for (const [k, v] of new URLSearchParams(m[3] ?? '')) {
    if (!QUERY_KEYS.has(k)) {
      throw new UsageError(
        `unknown S3 store option ${JSON.stringify(k)} (known: ${[...QUERY_KEYS].join(', ')})`,
        {
          store: spec,
        },
      );
    }
    if (k === 'endpoint') query.endpoint = endpointUrl(v, spec);
    else if (k === 'region') query.region = v;
    else if (k === 'forcePathStyle') query.forcePathStyle = bool(v, k, spec);
    else if (k === 'ifMatchQuoting') query.ifMatchQuoting = quoting(v, spec);
    else if (k === 'partSizeMiB') query.partSize = positiveInt(v, k, spec) * MIB;
    else if (k === 'partConcurrency') query.partConcurrency = positiveInt(v, k, spec);
  }
  return { bucket, prefix, query };
}

/** Connection options from STRATA_S3_* variables. */
export function s3OptionsFromEnv(env: NodeJS.ProcessEnv, spec: string): S3ConnectionOptions {
  const o: S3ConnectionOptions = {};
  if (env.STRATA_S3_ENDPOINT) o.endpoint = endpointUrl(env.STRATA_S3_ENDPOINT, spec);
  if (env.STRATA_S3_REGION) o.region = env.STRATA_S3_REGION;
  if (env.STRATA_S3_FORCE_PATH_STYLE)
    o.forcePathStyle = bool(env.STRATA_S3_FORCE_PATH_STYLE, 'STRATA_S3_FORCE_PATH_STYLE', spec);
  if (
    env.STRATA_S3_IFMATCH_UNQUOTED &&
    bool(env.STRATA_S3_IFMATCH_UNQUOTED, 'STRATA_S3_IFMATCH_UNQUOTED', spec)
  ) {
    o.ifMatchQuoting = 'unquoted';
  }
  const id = env.STRATA_S3_ACCESS_KEY_ID;
  const secret = env.STRATA_S3_SECRET_ACCESS_KEY;
  if (id || secret) {
    if (!id || !secret) {
      throw new UsageError('set both STRATA_S3_ACCESS_KEY_ID and STRATA_S3_SECRET_ACCESS_KEY, or neither', {
        store: spec,
      });
    }
    o.credentials = { accessKeyId: id, secretAccessKey: secret };
    if (env.STRATA_S3_SESSION_TOKEN) o.credentials.sessionToken = env.STRATA_S3_SESSION_TOKEN;
  }
  return o;
}

/** Everything an S3Store needs, resolved from a spec, the environment and explicit overrides. */
export function resolveS3Options(
  spec: string,
  overrides: S3ConnectionOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): S3Location & S3ConnectionOptions {
  const { bucket, prefix, query } = parseS3Spec(spec);
  const defined = <T extends object>(o: T): Partial<T> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return { ...s3OptionsFromEnv(env, spec), ...defined(query), ...defined(overrides), bucket, prefix };
}

/** Puts (or replaces) the endpoint in an s3:// spec's query: how `--s3-endpoint` reaches worker processes. */
export function withS3Endpoint(spec: string, endpoint: string): string {
  const checked = endpointUrl(endpoint, spec);
  const cut = spec.indexOf('?');
  const base = cut < 0 ? spec : spec.slice(0, cut);
  const q = new URLSearchParams(cut < 0 ? '' : spec.slice(cut + 1));
  q.set('endpoint', checked);
  return `${base}?${q}`;
}
