/**
 * Serves the built Console (dist/console, made by `npm run build` from console/) at /console/, and
 * redirects / there. The files are read into memory once when the server starts (a few hundred KB) and
 * only those names are served, so no request path ever reaches the filesystem. Every response carries a
 * strict Content-Security-Policy (scripts and styles from this origin only, no inline script, no
 * framing); content-hashed assets are cached for a year, index.html is revalidated (ETag) every time.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** dist/console of this package: the same place from src/server/console (tsx) and dist/server/console. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../dist/console/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'none'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

/** Every built file by its URL path under /console/ (e.g. "assets/app-3F2A….js"). */
export function loadConsoleAssets(dir = CONSOLE_DIR): Map<string, Asset> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const out = new Map<string, Asset>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const rel = relative(dir, p).split(sep).join('/');
        const type = TYPES[extname(name)];
        if (!type) continue;
        const body = readFileSync(p);
        out.set(rel, {
          body,
          type,
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
          // esbuild names assets NAME-HASH.ext
          immutable: rel.startsWith('assets/') && /-[A-Z0-9]{8,}\.[a-z]+$/.test(name),
        });
      }
    }
  };
  walk(dir);
  return out;
}

function send(req: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  void reply.headers(SECURITY_HEADERS);
  void reply.header('etag', a.etag);
  void reply.header('cache-control', a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
  return reply.type(a.type).send(a.body);
}

export function registerConsoleStatic(app: FastifyInstance, dir = CONSOLE_DIR): void {
  const assets = loadConsoleAssets(dir);
  const missing = (reply: FastifyReply) =>
    reply
      .code(503)
      .headers(SECURITY_HEADERS)
      .type('text/plain; charset=utf-8')
      .send('The Strata Console is not built in this installation: run `npm run build`.\n');

  app.get('/', async (_req, reply) => reply.redirect('/console/', 302));
  app.get('/console', async (_req, reply) => reply.redirect('/console/', 301));
  app.get('/console/', async (req, reply) => {
    const index = assets?.get('index.html');
    return index ? send(req, reply, index) : missing(reply);
  });
  app.get<{ Params: { '*': string } }>('/console/*', async (req, reply) => {
    if (!assets) return missing(reply);
    const a = assets.get(req.params['*']);
    if (!a) {
      return reply
        .code(404)
        .headers(SECURITY_HEADERS)
        .send({ error: 'NotFoundError', message: 'no such Console file', code: 'E_NOT_FOUND' });
    }
    return send(req, reply, a);
  });
}
