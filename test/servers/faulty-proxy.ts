/**
 * An HTTP proxy on a free 127.0.0.1 port in front of a test S3 server, for injecting faults the server
 * itself never produces: a rule sees each request (method, URL, how many came before) and lets it pass,
 * answers it with an error status, resets the connection, or never answers (until the proxy closes).
 */
import { createServer, type IncomingMessage, request, type Server } from 'node:http';

export type ProxyAction = 'pass' | 'reset' | 'hang' | { status: number; code: string };

export interface ProxyRequest {
  method: string;
  url: string;
  /** 1-based index of this request among all the proxy has seen. */
  n: number;
}

export interface FaultyProxy extends AsyncDisposable {
  readonly endpoint: string;
  /** Requests seen so far, in order. */
  readonly seen: ProxyRequest[];
  setRule(rule: (r: ProxyRequest) => ProxyAction): void;
  close(): Promise<void>;
}

function errorXml(code: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the test proxy</Message></Error>`;
}

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const t = new URL(target);
  let rule: (r: ProxyRequest) => ProxyAction = () => 'pass';
  const seen: ProxyRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const r = { method: req.method ?? 'GET', url: req.url ?? '/', n: seen.length + 1 };
    seen.push(r);
    const action = rule(r);
    if (action === 'reset') {
      req.socket.destroy();
      return;
    }
    if (action === 'hang') {
      req.resume();
      return;
    }
    if (action !== 'pass') {
      req.resume();
      req.on('end', () => {
        res.writeHead(action.status, { 'content-type': 'application/xml' });
        res.end(errorXml(action.code));
      });
      return;
    }
    const up = request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  });
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    setRule: (r) => {
      rule = r;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
