import { createServer, type Server } from 'node:http';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';

export type SigningAlgorithm = 'RS256' | 'ES256' | 'EdDSA';

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicJwk: Record<string, unknown>;
}

/** A fresh key pair of the kind an identity provider publishes. */
export function generateSigningKey(alg: SigningAlgorithm, kid = `${alg}-${randomUUID()}`): SigningKey {
  const { privateKey, publicKey } =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  return { kid, alg, privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

/** Signs like an identity provider: `kid` in the header, `exp` five minutes out unless given. */
export function signWith(
  key: SigningKey,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  options: { expiresIn?: string | number | null } = {},
): Promise<string> {
  let jwt = new SignJWT({ sub: 'idp-1', username: 'alice', roles: ['user'], ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .setIssuedAt();
  if (options.expiresIn !== null && claims.exp === undefined) jwt = jwt.setExpirationTime(options.expiresIn ?? '5m');
  return jwt.sign(key.privateKey);
}

/**
 * A local identity provider's JWKS endpoint: keys can be rotated, the endpoint can fail or
 * hang, and every request is counted by path (so a test can prove nothing else was fetched).
 */
export class JwksServer {
  keys: SigningKey[] = [];
  mode: 'serve' | 'fail' | 'hang' = 'serve';
  readonly hits = new Map<string, number>();
  private server?: Server;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }

  /** Any other URL on the same server, to catch a fetch the verifier must never make. */
  trap(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  fetches(path = '/.well-known/jwks.json'): number {
    return this.hits.get(path) ?? 0;
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      const path = (request.url ?? '').split('?')[0];
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      if (this.mode === 'hang') return;
      if (this.mode === 'fail' || path !== '/.well-known/jwks.json') {
        response.writeHead(this.mode === 'fail' ? 503 : 404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys: this.keys.map((key) => key.publicJwk) }));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
  }

  /** Stops listening (connections refused) until `start()` again, on the same port. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
