import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { WsAuthGatewayOptions } from '../ws-auth-options.interface.js';
import { WsAuthConfig } from '../ws-auth.config.js';
import type { HandshakeAuthenticator } from '../handshake/handshake-authenticator.js';
import { isPromiseLike, type MaybePromise } from '../handshake/maybe-promise.js';
import { selectableProtocols } from '../handshake/subprotocol.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { refusalResponse } from '../refusals/refusal-response.js';
import { errorName, toRefusal } from '../refusals/to-refusal.js';
import { WsRefusal, type WsRefusalReason } from '../refusals/ws-refusal.js';
import { closeWith, sendEvent, type CloseSettings } from '../connections/close-with.js';
import { isFromToken } from '../handshake/handshake-authenticator.js';
import { DEFAULT_CLOSE_GRACE_MS } from '../ws-auth.constants.js';
import { PendingAuthentications } from '../connections/pending-authentications.js';
import { sessionOf } from '../connections/connection-session.js';
import { InBandAuthentication, pendingAuthenticationOf } from '../connections/in-band-authentication.js';
import { WsConnections } from '../connections/ws-connections.service.js';
import { relayException } from './exception-relay.js';
import { endReceiverOnce } from './receiver-end.js';
import { UpgradePaths } from './upgrade-path.js';
import { bindMessageHandlersWithoutRxjs, type MessageDispatchHost } from './message-dispatch.js';
import { websocketsMajorVersion } from './nest-websockets-version.js';
import { gatewayLabel } from '../telemetry/gateway-telemetry.js';
import { ConnectionRequirements } from '../authorization/connection-requirements.js';
import { gatewaysOfServer } from '../authorization/gateways-of-server.js';

type VerifyInfo = { secure: boolean; req: IncomingMessage };
type VerifyCallback = (ok: boolean, status?: number, body?: string, headers?: Record<string, string>) => void;
type ProtocolHandler = (protocols: Set<string>, request: IncomingMessage) => string | false;
type MessageHandler = { message: unknown; methodName?: string; callback: (...args: any[]) => any };
type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

// A socket without a session has no gateway to report to (nothing of ours accepted it).
const UNTRACKED: CloseSettings = { closeGraceMs: DEFAULT_CLOSE_GRACE_MS };

/** Turns a frame into `{ event, data }`, as Nest's `WsAdapter` option of the same name. */
export type WsAuthMessageParser = (data: string | Buffer | ArrayBuffer | Buffer[]) => { event: string; data: any } | void;

export interface WsAuthAdapterOptions {
  /**
   * Reads every frame, the in-band `authenticate` frame included. Default: JSON. Nest's
   * `setMessageParser()` works too.
   */
  messageParser?: WsAuthMessageParser;
}

/**
 * WsAdapter that authenticates every upgrade before a socket exists. Authentication hooks in
 * only through options `ws` documents (`verifyClient` in its async form, `handleProtocols`) and
 * the adapter methods Nest 11 and 12 both declare (public, and the protected
 * `ensureHttpServerExists` for routing), so it behaves the same on both and on every server
 * layout Nest creates. Two speed-ups reach further, each falling back to Nest's or ws's own
 * behaviour when what they expect is not there: upgrade routing (upgrade-path.ts) and the
 * receiver of a closing socket (receiver-end.ts).
 */
export class WsAuthAdapter extends WsAdapter {
  private readonly authLogger = new Logger('WsAuth');
  private readonly gateways = new WeakMap<object, HandshakeAuthenticator>();
  private readonly pending = new PendingAuthentications();
  private resolved?: { config: WsAuthConfig; connections: WsConnections };
  // The identity of the upgrade being completed: ws runs the connection listeners inside
  // done(true), so admit() hands it to accept() through these two fields, with no map and no
  // allocation. Cleared as soon as done() returns, whether or not the socket was opened.
  private upgrading?: IncomingMessage;
  private upgradingIdentity?: WsIdentity;
  // Nest 12 sends exceptions to native clients itself; an unknown version gets the relay,
  // which is harmless where nothing emits the local event.
  private readonly relaysExceptions = (websocketsMajorVersion() ?? 0) < 12;
  private readonly upgradePaths = new UpgradePaths();
  private readonly upgradeRouters = new Map<HttpServer, UpgradeListener>();

  constructor(
    private readonly app: INestApplicationContext,
    options?: WsAuthAdapterOptions,
  ) {
    super(app, options);
  }

  override create(port: number, options: Record<string, any> = {}): any {
    const { wsAuth, ...gatewayOptions } = options as { wsAuth?: WsAuthGatewayOptions } & Record<string, any>;
    if (gatewayOptions.server) {
      throw new Error('WsAuthAdapter: the "server" gateway option bypasses authentication and is not supported.');
    }
    if (gatewayOptions.verifyClient) {
      throw new Error('WsAuthAdapter: "verifyClient" is owned by WsAuthAdapter; use wsAuth.authenticate instead.');
    }
    const authenticator = this.services().config.authenticatorFor(wsAuth, gatewayLabel(port, gatewayOptions.path));
    // Nest names no gateway class here: the classes are those it serves on (port, path).
    const requirements = ConnectionRequirements.of(
      gatewaysOfServer(this.app.get(ModulesContainer, { strict: false }), port, gatewayOptions.path),
      authenticator.settings.verifyTimeoutMs,
    );
    authenticator.requirements = requirements;
    const server: WebSocketServer = super.create(port, {
      // ws alone accepts 100 MiB messages; a gateway's own maxPayload still wins.
      maxPayload: authenticator.settings.maxPayload,
      // ws emits every message of one TCP chunk in the same tick by default, so Nest runs the
      // guards of frames pipelined behind a frame whose handler closes the connection (logout,
      // a refused refresh) before that close, and their handlers after it. One message per
      // tick lets an auth close take effect before the next frame is dispatched.
      allowSynchronousEvents: false,
      ...gatewayOptions,
      verifyClient: (info: VerifyInfo, done: VerifyCallback) => this.verify(authenticator, requirements, info, done),
      handleProtocols: withoutCredentials(gatewayOptions.handleProtocols),
    });
    this.gateways.set(server, authenticator);
    // Before Nest's own listener, so handleConnection and every handler see the identity.
    server.prependListener('connection', (socket: WebSocket, request: IncomingMessage) => this.accept(authenticator, socket, request));
    return server;
  }

  /**
   * Nest's upgrade listener routes by `new URL(url, 'ws://' + host).pathname`, a URL parse per
   * handshake. It is replaced by one that matches a plain path (upgrade-path.ts) directly against
   * the same registry, and hands everything else to Nest's listener unchanged.
   */
  protected override ensureHttpServerExists(port: number, httpServer?: HttpServer): HttpServer | undefined {
    const server = super.ensureHttpServerExists(port, httpServer);
    // Nest added its listener last; undefined when the port was registered before.
    const nests = server?.listeners('upgrade').at(-1) as UpgradeListener | undefined;
    if (!server || !nests) return server;
    const route: UpgradeListener = (request, socket, head) => {
      const pathname = this.upgradePaths.plainPathname(request.url, request.headers.host);
      if (pathname === undefined) return nests(request, socket, head);
      const wsServer = (this.wsServersRegistry.get(port) as WebSocketServer[] | undefined)?.find(
        (candidate) => (candidate as { path?: string }).path === pathname,
      );
      if (!wsServer) return void socket.destroy();
      try {
        wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
      } catch (error) {
        // verifyClient and the connection listeners catch their own; anything else fails closed.
        this.authLogger.error(`WebSocket upgrade failed: ${errorName(error)}`);
        socket.destroy();
      }
    };
    server.off('upgrade', nests);
    server.on('upgrade', route);
    this.upgradeRouters.set(server, route);
    return server;
  }

  /** Nest takes its own listeners off a server it did not create; ours go too. */
  override async dispose(): Promise<void> {
    await super.dispose();
    for (const [server, route] of this.upgradeRouters) server.off('upgrade', route);
    this.upgradeRouters.clear();
  }

  /** In-band gateways hear of a connection only once it has authenticated. */
  override bindClientConnect(server: any, callback: (...args: any[]) => void): void {
    if (this.gateways.get(server)?.settings.mode !== 'in-band') return super.bindClientConnect(server, callback);
    server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      const pending = pendingAuthenticationOf(socket);
      if (pending) pending.deferred = () => callback(socket, request);
    });
  }

  /**
   * As Nest's, without `once`: ws emits 'close' once per socket, and `once` wraps every
   * connection's callback in two more objects.
   */
  override bindClientDisconnect(client: WebSocket, callback: (...args: any[]) => void): void {
    client.on('close', callback);
  }

  /**
   * Adds `authenticate` (refresh over the open socket) to the gateway's handlers, then
   * dispatches frames as Nest does, without Nest's per-connection rxjs pipeline (the larger
   * part of its cost per connection: about 7 KB of heap per idle socket and tens of us to
   * build and tear down). test/e2e/message-dispatch.e2e.ts holds the two side by side.
   */
  override bindMessageHandlers(client: WebSocket, handlers: MessageHandler[], transform: (data: any) => any): void {
    if (!handlers.some((handler) => handler.message === 'authenticate')) {
      // Nest builds this array for this client alone, so appending costs no copy per connection.
      handlers.push({ message: 'authenticate', methodName: 'authenticate', callback: (data: unknown) => void this.refresh(client, data) });
    }
    bindMessageHandlersWithoutRxjs(this.dispatch, client, handlers, transform);
  }

  private readonly dispatch: MessageDispatchHost = { messageParser: () => this.messageParser, logger: this.logger };

  /**
   * Nest logs every client socket error at error level with a stack. Those are protocol
   * errors a peer chooses (invalid UTF-8, a bad frame, a too-large message), so any client,
   * authenticated or not, could flood the log with them: one short debug line instead.
   */
  override bindErrorHandler(server: any): any {
    server.on('connection', (socket: WebSocket) => socket.on('error', this.onClientError));
    server.on('error', (error: Error) => this.authLogger.error(`WebSocket server error: ${errorName(error)}`));
    return server;
  }

  private readonly onClientError = (error: Error & { code?: string }): void => {
    this.authLogger.debug(`WebSocket client error: ${error.code ?? errorName(error)}`);
  };

  private services() {
    this.resolved ??= {
      config: this.app.get(WsAuthConfig, { strict: false }),
      connections: this.app.get(WsConnections, { strict: false }),
    };
    return this.resolved;
  }

  private verify(authenticator: HandshakeAuthenticator, requirements: ConnectionRequirements | undefined, info: VerifyInfo, done: VerifyCallback): void {
    const started = authenticator.settings.telemetry.upgradeStarted();
    let identity: MaybePromise<WsIdentity | undefined>;
    try {
      identity = this.authenticateUpgrade(authenticator, info.req);
    } catch (error) {
      return this.refuse(authenticator, info.req, done, error, started);
    }
    if (!isPromiseLike(identity)) return this.authorize(authenticator, requirements, info.req, done, identity, started);
    identity.then(
      (resolved) => {
        // A revocation may have landed while a store, a key server or validate() was awaited.
        try {
          if (resolved) this.services().config.revocations.assertNotRevoked(resolved);
        } catch (error) {
          return this.refuse(authenticator, info.req, done, error, started);
        }
        this.authorize(authenticator, requirements, info.req, done, resolved, started);
      },
      (error: unknown) => this.refuse(authenticator, info.req, done, error, started),
    );
  }

  /**
   * The gateway classes' own requirements (class `@Roles`, `@UseConnectionGuards`), judged
   * before a socket exists. An in-band upgrade has no identity yet: its requirements are
   * judged once it authenticates (onInBandAuthenticated).
   */
  private authorize(
    authenticator: HandshakeAuthenticator,
    requirements: ConnectionRequirements | undefined,
    request: IncomingMessage,
    done: VerifyCallback,
    identity: WsIdentity | undefined,
    started: number,
  ): void {
    if (!requirements || !identity) return this.admit(authenticator, request, done, identity, started);
    let verdict: MaybePromise<void>;
    try {
      verdict = requirements.check(request, identity);
    } catch (error) {
      return this.refuse(authenticator, request, done, error, started);
    }
    if (!isPromiseLike(verdict)) return this.admit(authenticator, request, done, identity, started);
    verdict.then(
      () => {
        // Guards that waited (a store, a service) leave room for a revocation too.
        try {
          this.services().config.revocations.assertNotRevoked(identity);
        } catch (error) {
          return this.refuse(authenticator, request, done, error, started);
        }
        this.admit(authenticator, request, done, identity, started);
      },
      (error: unknown) => this.refuse(authenticator, request, done, error, started),
    );
  }

  /** Completes the upgrade: ws runs the connection listeners (ours, then Nest's) right here. */
  private admit(
    authenticator: HandshakeAuthenticator,
    request: IncomingMessage,
    done: VerifyCallback,
    identity: WsIdentity | undefined,
    started: number,
  ): void {
    // Before done(): the connection it opens is counted after the attempt that let it in.
    authenticator.settings.telemetry.upgradeAccepted(started, identity, request);
    this.upgrading = request;
    this.upgradingIdentity = identity;
    try {
      done(true);
    } catch (failure) {
      // Whatever runs synchronously inside the upgrade (app connection hooks) must not
      // take the process down or leave the socket half-open.
      this.authLogger.error(`WebSocket upgrade failed after authentication: ${errorName(failure)}`);
      request.socket.destroy();
    } finally {
      this.upgrading = undefined;
      this.upgradingIdentity = undefined;
    }
  }

  private refuse(authenticator: HandshakeAuthenticator, request: IncomingMessage, done: VerifyCallback, error: unknown, started: number): void {
    const refusal = toRefusal(error, 'the upgrade');
    this.logRefusal(refusal, request);
    authenticator.settings.telemetry.upgradeRefused(started, refusal, request);
    const response = refusalResponse(refusal);
    done(false, response.status, response.body, response.headers);
  }

  private authenticateUpgrade(authenticator: HandshakeAuthenticator, request: IncomingMessage): MaybePromise<WsIdentity | undefined> {
    if (authenticator.settings.mode === 'handshake') return authenticator.authenticate(request);
    authenticator.admit(request);
    const { config } = this.services();
    this.pending.assertRoom(request.socket.remoteAddress, config.maxPendingAuthentications, config.maxPendingAuthenticationsPerAddress);
    return undefined;
  }

  private accept(authenticator: HandshakeAuthenticator, socket: WebSocket, request: IncomingMessage): void {
    endReceiverOnce(socket);
    if (this.relaysExceptions) socket.on('exception', relayException);
    if (authenticator.settings.mode === 'in-band') {
      const address = request.socket.remoteAddress;
      this.pending.add(address);
      const onSettled = () => this.pending.remove(address);
      new InBandAuthentication(socket, request, authenticator, this.onInBandAuthenticated, onSettled, this.parseFrame).start();
      return;
    }
    const identity = request === this.upgrading ? this.upgradingIdentity : undefined;
    // Only our verifyClient lets an upgrade through, and only inside its done(true), so this is
    // unreachable; fail closed anyway.
    if (!identity) return void socket.terminate();
    this.services().connections.track(socket, identity, request, authenticator);
  }

  // Read at call time: Nest's setMessageParser() may replace the parser after construction.
  private readonly parseFrame = (text: string): unknown => this.messageParser(text);

  private readonly onInBandAuthenticated = (auth: InBandAuthentication, identity: WsIdentity): void => {
    // Verification was asynchronous: a revocation may have landed meanwhile.
    if (this.services().config.revocations.coversIdentity(identity))
      return closeWith(auth.socket, 'credential_revoked', auth.authenticator.settings, undefined, auth.request.socket);
    const { requirements } = auth.authenticator;
    if (!requirements) return this.connectInBand(auth, identity);
    // The socket exists, but Nest has not heard of it: a refusal closes it before
    // handleConnection or any handler runs, with the close code of the refusal.
    const refuse = (error: unknown) =>
      closeWith(auth.socket, toRefusal(error, 'in-band authorization'), auth.authenticator.settings, undefined, auth.request.socket);
    let verdict: MaybePromise<void>;
    try {
      verdict = requirements.check(auth.request, identity);
    } catch (error) {
      return refuse(error);
    }
    if (!isPromiseLike(verdict)) return this.connectInBand(auth, identity);
    verdict.then(() => {
      // The peer may have left, or been revoked, while the guards waited.
      if (auth.socket.readyState !== 1) return;
      if (this.services().config.revocations.coversIdentity(identity))
        return closeWith(auth.socket, 'credential_revoked', auth.authenticator.settings, undefined, auth.request.socket);
      this.connectInBand(auth, identity);
    }, refuse);
  };

  private connectInBand(auth: InBandAuthentication, identity: WsIdentity): void {
    auth.authenticator.settings.telemetry.authenticated(identity, auth.request.socket);
    this.services().connections.track(auth.socket, identity, auth.request, auth.authenticator);
    sendEvent(auth.socket, 'authenticated', { expiresAt: identity.expiresAt ?? null });
    auth.deferred?.();
  }

  /**
   * `authenticate` on an authenticated socket: same subject, same kind of credential, fresh
   * claims and expiry. Anything else closes the connection.
   */
  private async refresh(client: WebSocket, data: unknown): Promise<void> {
    const session = sessionOf(client);
    if (!session) return closeWith(client, 'invalid_credential', UNTRACKED);
    const { telemetry } = session.authenticator.settings;
    const refuse = (reason: WsRefusalReason | WsRefusal) => {
      telemetry.refreshRefusedWith(reason);
      session.close(reason);
    };
    // An API key, a certificate or an app-vouched ticket is not a token: a token, even of
    // the same subject, must not turn such a connection into a JWT user with other roles.
    if (!isFromToken(session.identity)) return refuse('credential_kind_changed');
    const token = (data as { token?: unknown } | null | undefined)?.token;
    if (typeof token !== 'string') return refuse('invalid_credential');
    const { revalidation } = this.services().connections;
    const rechecks = revalidation.requestsOf(session);
    let identity: WsIdentity;
    try {
      // The session keeps the request whenever validate() needs it again.
      identity = await session.authenticator.identifyToken(token, session.request!, 'message');
    } catch (error) {
      if (sessionOf(client) === session) refuse(toRefusal(error, 'a refresh'));
      return;
    }
    if (sessionOf(client) !== session) return;
    if (this.services().config.revocations.coversIdentity(identity)) return refuse('credential_revoked');
    // A token without `sub` cannot prove it is the same principal, so it never refreshes.
    const subject = session.identity.subject;
    if (subject === undefined || identity.subject !== subject) return refuse('subject_changed');
    session.replace(identity);
    telemetry.refreshed(subject, session.peer);
    sendEvent(client, 'authenticated', { expiresAt: identity.expiresAt ?? null });
    // validate() ran for this token before a re-check asked meanwhile (a demotion) was
    // decided, and the re-check's answer was dropped as stale: judge the new identity again.
    if (revalidation.requestsOf(session) !== rechecks) void revalidation.recheck(session);
  }

  private logRefusal(refusal: WsRefusal, request: IncomingMessage): void {
    // Only the reason, the status and the peer: never the URL (it may carry a credential).
    this.authLogger.debug(`Refused WebSocket upgrade: ${refusal.reason} (${refusal.status}) from ${request.socket.remoteAddress}`);
  }
}

function withoutCredentials(appHandler?: ProtocolHandler): ProtocolHandler {
  return (offered, request) => {
    const selectable = selectableProtocols(offered);
    if (appHandler) return appHandler(selectable, request);
    const first = selectable.values().next();
    return first.done ? false : first.value;
  };
}
