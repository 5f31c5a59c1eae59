import { once } from 'node:events';
import { createServer } from 'node:net';

/** A port that was free on 127.0.0.1 a moment ago (the OS picked it): for servers Strata starts itself. */
export async function freeLoopbackPort(): Promise<number> {
  const srv = createServer();
  srv.unref();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}
