import { ServerResponse, type IncomingMessage } from 'node:http';
import type { WsAuthenticated, WsAuthenticateFn } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'

/** An Express-style middleware, as `session(options)` from `express-session` returns. */
type Middleware = (request: any, response: any, next: (error?: unknown) => void) => void;

/**
 * Authenticates an upgrade with the app's existing `express-session` cookie: the same
 * middleware instance the HTTP side uses reads the cookie, checks its signature and loads
 * the session from the store. Nothing is written back: an upgrade has no response yet.
 * The Origin check runs before this, which is what keeps a cookie safe from cross-site
 * WebSocket hijacking.
 */
export function expressSessionAuthenticator<User>(
  session: Middleware,
  identityOf: (session: Record<string, any>) => WsAuthenticated<User> | null | undefined,
): WsAuthenticateFn<User> {
  return (request: IncomingMessage) =>
    new Promise((resolve, reject) => {
      session(request, new ServerResponse(request), (error) => {
        if (error) return reject(error);
        // express-session calls back from the store's own tick, outside any try: a throw from
        // identityOf (a WsRefusal('forbidden'), say) must become this promise's rejection.
        try {
          const loaded = (request as IncomingMessage & { session?: Record<string, any> }).session;
          resolve(loaded ? identityOf(loaded) : null);
        } catch (failure) {
          reject(failure);
        }
      });
    });
}
