/**
 * Token auth, the way Chroma clients send it: `Authorization: Bearer TOKEN` or `x-chroma-token: TOKEN`.
 * Writes always need the token (a server started without one refuses writes); reads need it when the
 * server was started with readsNeedToken. Tokens are compared in constant time (over their SHA-256).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCodes, StrataError } from '../core/errors.js';

export type Access = 'read' | 'write';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function presentedToken(h: IncomingHttpHeaders): string | undefined {
  const x = h['x-chroma-token'];
  if (typeof x === 'string' && x.length > 0) return x;
  const a = h.authorization;
  if (typeof a === 'string') {
    const m = /^Bearer\s+(.+)$/i.exec(a.trim());
    if (m) return m[1];
  }
  return undefined;
}

export class TokenAuth {
  readonly #token: Buffer | null;
  readonly readsNeedToken: boolean;

  constructor(token: string | undefined, readsNeedToken = false) {
    this.#token = token ? digest(token) : null;
    this.readsNeedToken = readsNeedToken && token !== undefined;
  }

  get writesEnabled(): boolean {
    return this.#token !== null;
  }

  /** Throws E_UNAUTHORIZED (401) or E_FORBIDDEN (403) unless the request may do this. */
  check(headers: IncomingHttpHeaders, access: Access): void {
    if (access === 'read' && !this.readsNeedToken) return;
    if (this.#token === null) {
      throw new StrataError(
        ErrorCodes.FORBIDDEN,
        'writes are disabled: start strata serve with --token (or STRATA_TOKEN) and send it as a Bearer token or x-chroma-token',
      );
    }
    const t = presentedToken(headers);
    if (t === undefined)
      throw new StrataError(
        ErrorCodes.UNAUTHORIZED,
        'missing token (Authorization: Bearer … or x-chroma-token)',
      );
    if (!timingSafeEqual(digest(t), this.#token))
      throw new StrataError(ErrorCodes.UNAUTHORIZED, 'invalid token');
  }
}
