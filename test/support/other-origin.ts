import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface OtherOrigin {
  /** http://127.0.0.1:<port>: the sample's site (same host), another origin (another port). */
  readonly origin: string;
  /** Headers of every WebSocket upgrade this server was sent; it refuses them all. */
  readonly upgrades: IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** A tiny page on a second local port, to act as the foreign page a cookie must not serve. */
export async function startOtherOrigin(): Promise<OtherOrigin> {
  const upgrades: IncomingHttpHeaders[] = [];
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end('<!doctype html><title>another origin</title><link rel="icon" href="data:,"><p>another origin</p>');
  });
  server.on('upgrade', (request, socket) => {
    upgrades.push(request.headers);
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    origin: `http://127.0.0.1:${port}`,
    upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
