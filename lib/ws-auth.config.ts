import { Inject, Injectable } from '@nestjs/common';
import type { WsAuthGatewayOptions, WsAuthOptions, WsCredentialSource } from './ws-auth-options.interface.js';
import {
  DEFAULT_CREDENTIAL_NAME,
  DEFAULT_CREDENTIAL_SOURCES,
  DEFAULT_ROLES_CLAIM,
  DEFAULT_VERIFY_TIMEOUT_MS,
  WS_AUTH_OPTIONS,
} from './ws-auth.constants.js';
import { JwtVerifier } from './jwt/jwt-verifier.js';
import { HandshakeAuthenticator } from './handshake/handshake-authenticator.js';
import { OriginPolicy } from './handshake/origin-policy.js';

const SOURCES: ReadonlySet<string> = new Set<WsCredentialSource>(['header', 'subprotocol', 'cookie', 'query']);
// RFC 6265 cookie-name / RFC 3986 query key: a plain token, so it is never a pattern.
const NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

function fail(message: string): never {
  throw new Error(`WsAuthModule: ${message}`);
}

function checkSources(sources: readonly string[]): void {
  if (sources.length === 0) fail('credentials must list at least one source.');
  for (const source of sources) if (!SOURCES.has(source)) fail(`unknown credential source "${source}".`);
  if (new Set(sources).size !== sources.length) fail('credentials lists a source twice.');
}

function checkTimeout(ms: number): void {
  if (!Number.isFinite(ms) || ms <= 0) fail('verifyTimeoutMs must be a positive number.');
}

/**
 * The module's options, checked once at startup: options that cannot be safe stop the app
 * with a message rather than run open. The JWT key is built here, once, for every gateway.
 */
@Injectable()
export class WsAuthConfig {
  private readonly verifier?: JwtVerifier;

  constructor(@Inject(WS_AUTH_OPTIONS) readonly options: WsAuthOptions) {
    if (!options || typeof options !== 'object') fail('options are required.');
    if (!options.jwt && !options.authenticate) fail('set jwt (a secret or a publicKey) or an authenticate function.');
    if (options.jwt) this.verifier = new JwtVerifier(options.jwt);
    this.authenticatorFor(undefined);
  }

  /** Builds the authenticator of one gateway: its `wsAuth` overrides over the module options. */
  authenticatorFor(overrides: WsAuthGatewayOptions | undefined): HandshakeAuthenticator {
    const merged = { ...this.options, ...overrides };
    const sources = merged.credentials ?? [...DEFAULT_CREDENTIAL_SOURCES];
    checkSources(sources);
    const cookieName = merged.cookieName ?? DEFAULT_CREDENTIAL_NAME;
    const queryParam = merged.queryParam ?? DEFAULT_CREDENTIAL_NAME;
    if (!NAME.test(cookieName)) fail(`cookieName "${cookieName}" is not a valid cookie name.`);
    if (!NAME.test(queryParam)) fail(`queryParam "${queryParam}" is not a valid parameter name.`);
    const verifyTimeoutMs = merged.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
    checkTimeout(verifyTimeoutMs);
    if (!merged.authenticate && !this.verifier) fail('a gateway without authenticate needs the module jwt options.');

    return new HandshakeAuthenticator({
      origins: new OriginPolicy(merged.allowedOrigins),
      sources,
      names: { cookieName, queryParam },
      rolesClaim: merged.rolesClaim ?? DEFAULT_ROLES_CLAIM,
      verifyTimeoutMs,
      verifier: this.verifier,
      validate: merged.validate,
      authenticate: merged.authenticate,
    });
  }
}
