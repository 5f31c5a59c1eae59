import { ErrorCodes, StrataError } from '../core/errors.js';

/** S3's limit; local paths stay well under PATH_MAX with it. */
export const MAX_KEY_BYTES = 1024;
/** Most filesystems' NAME_MAX. */
export const MAX_SEGMENT_BYTES = 255;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function refuse(message: string, key: string): never {
  throw new StrataError(ErrorCodes.STORE_KEY, message, { key });
}

/**
 * Refuses keys that could escape a local store's root or mean different things on different backends:
 * empty, leading '/', empty segments ('a//b', trailing '/'), '.' or '..' segments, NUL or backslash,
 * segments over 255 bytes, keys over 1024 bytes. Returns the key.
 */
export function validateKey(key: string): string {
  if (typeof key !== 'string' || key.length === 0) refuse('store key is empty', String(key));
  if (key.includes('\u0000')) refuse('store key contains NUL', key.replaceAll('\u0000', '\\0'));
  if (key.includes('\\')) refuse('store key contains a backslash', key);
  if (key.startsWith('/')) refuse('store key starts with "/"', key);
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES)
    refuse(`store key is longer than ${MAX_KEY_BYTES} bytes`, key);
  if (LONE_SURROGATE.test(key)) refuse('store key is not valid Unicode', key);
  for (const seg of key.split('/')) {
    if (seg === '') refuse('store key has an empty segment', key);
    if (seg === '.' || seg === '..') refuse(`store key has a "${seg}" segment`, key);
    if (Buffer.byteLength(seg, 'utf8') > MAX_SEGMENT_BYTES) {
      refuse(`store key has a segment longer than ${MAX_SEGMENT_BYTES} bytes`, key);
    }
  }
  return key;
}

/**
 * A list prefix is a plain string prefix (S3 semantics: 'a/b' matches 'a/b', 'a/bc/x' and 'a/b/x'), but its
 * directory part (up to the last '/') must be a valid key. Returns the prefix.
 */
export function validatePrefix(prefix: string): string {
  if (typeof prefix !== 'string') refuse('list prefix must be a string', String(prefix));
  if (prefix === '') return '';
  if (prefix.includes('\u0000')) refuse('list prefix contains NUL', prefix.replaceAll('\u0000', '\\0'));
  if (prefix.includes('\\')) refuse('list prefix contains a backslash', prefix);
  if (prefix.startsWith('/')) refuse('list prefix starts with "/"', prefix);
  const cut = prefix.lastIndexOf('/');
  if (cut >= 0) {
    try {
      validateKey(prefix.slice(0, cut));
    } catch {
      refuse('list prefix has an invalid directory part', prefix);
    }
  }
  return prefix;
}

/** S3 orders keys by their UTF-8 bytes; so do we (differs from JS string order only outside the BMP). */
export function compareKeys(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
