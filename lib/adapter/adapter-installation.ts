// Which HTTP servers had a gateway created through WsAuthAdapter. The module compares
// this with the gateways it can see, so an app that forgot the adapter fails at startup
// instead of serving unauthenticated sockets.
const servers = new WeakSet<object>();
let withoutHttpServer = false;

export function markInstalled(httpServer: object | undefined): void {
  if (httpServer) servers.add(httpServer);
  else withoutHttpServer = true;
}

export function isInstalled(httpServer: object | undefined): boolean {
  return httpServer ? servers.has(httpServer) : withoutHttpServer;
}
