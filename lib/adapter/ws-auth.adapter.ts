import type { IncomingMessage } from 'node:http';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { WsAuthGatewayOptions } from '../ws-auth-options.interface.js';
import { WsAuthConfig } from '../ws-auth.config.js';
import type { HandshakeAuthenticator } from '../handshake/handshake-authenticator.js';
import { selectableProtocols } from '../handshake/subprotocol.js';
import { attachIdentity, identityOfRequest, rememberForUpgrade } from '../identity/identity-store.js';
import { refusalResponse } from '../refusals/refusal-response.js';
import { toRefusal } from '../refusals/to-refusal.js';
import type { WsRefusal } from '../refusals/ws-refusal.js';
import { relayException } from './exception-relay.js';

type VerifyInfo = { secure: boolean; req: IncomingMessage };
type VerifyCallback = (ok: boolean, status?: number, body?: string, headers?: Record<string, string>) => void;
type ProtocolHandler = (protocols: Set<string>, request: IncomingMessage) => string | false;

/**
 * WsAdapter that authenticates every upgrade before a socket exists. It hooks in only
 * through options `ws` documents (`verifyClient` in its async form, `handleProtocols`),
 * so it behaves the same on Nest 11 and 12 and on every server layout Nest creates.
 */
export class WsAuthAdapter extends WsAdapter {
  private readonly authLogger = new Logger('WsAuth');

  constructor(private readonly app: INestApplicationContext) {
    super(app);
  }

  override create(port: number, options: Record<string, any> = {}): any {
    const { wsAuth, ...gatewayOptions } = options as { wsAuth?: WsAuthGatewayOptions } & Record<string, any>;
    if (gatewayOptions.server) {
      throw new Error('WsAuthAdapter: the "server" gateway option bypasses authentication and is not supported.');
    }
    if (gatewayOptions.verifyClient) {
      throw new Error('WsAuthAdapter: "verifyClient" is owned by WsAuthAdapter; use wsAuth.authenticate instead.');
    }
    const authenticator = this.app.get(WsAuthConfig, { strict: false }).authenticatorFor(wsAuth);
    const server: WebSocketServer = super.create(port, {
      ...gatewayOptions,
      verifyClient: (info: VerifyInfo, done: VerifyCallback) => this.verify(authenticator, info, done),
      handleProtocols: withoutCredentials(gatewayOptions.handleProtocols),
    });
    // Before Nest's own listener, so handleConnection and every handler see the identity.
    server.prependListener('connection', adoptIdentity);
    return server;
  }

  private verify(authenticator: HandshakeAuthenticator, info: VerifyInfo, done: VerifyCallback): void {
    authenticator
      .authenticate(info.req)
      .then(
        (identity) => {
          rememberForUpgrade(info.req, identity);
          done(true);
        },
        (error: unknown) => {
          const refusal = toRefusal(error);
          this.logRefusal(refusal, info.req, error);
          const response = refusalResponse(refusal);
          done(false, response.status, response.body, response.headers);
        },
      )
      // Whatever runs synchronously inside the upgrade (app connection hooks) must not
      // become an unhandled rejection that takes the process down.
      .catch((error: unknown) => {
        this.authLogger.error(`WebSocket upgrade failed after authentication: ${errorName(error)}`);
        info.req.socket.destroy();
      });
  }

  private logRefusal(refusal: WsRefusal, request: IncomingMessage, cause: unknown): void {
    // Only the reason, the status and the peer: never the URL (it may carry a credential).
    if (refusal.reason === 'internal_error') {
      this.authLogger.error(`validate() or authenticate() threw ${errorName(cause)}; upgrade refused with 500`);
    }
    this.authLogger.debug(
      `Refused WebSocket upgrade: ${refusal.reason} (${refusal.status}) from ${request.socket.remoteAddress}`,
    );
  }
}

function adoptIdentity(socket: WebSocket, request: IncomingMessage): void {
  const identity = identityOfRequest(request);
  // Only our verifyClient lets an upgrade through, so this is unreachable; fail closed anyway.
  if (!identity) return void socket.terminate();
  attachIdentity(socket, identity);
  socket.on('exception', relayException);
}

function withoutCredentials(appHandler?: ProtocolHandler): ProtocolHandler {
  return (offered, request) => {
    const selectable = selectableProtocols(offered);
    if (appHandler) return appHandler(selectable, request);
    const first = selectable.values().next();
    return first.done ? false : first.value;
  };
}

// Error names only: an app's error message may quote what it was given.
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
