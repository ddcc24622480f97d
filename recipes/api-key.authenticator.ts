import { createHash } from 'node:crypto';
import type { WsAuthenticateFn } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'

export interface ApiKeyClient {
  readonly name: string;
  readonly roles: readonly string[];
}

const MAX_KEY_LENGTH = 256;

/** What the app stores for a key: its SHA-256, so a leaked config or database leaks no key. */
export function apiKeyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Services connect with `X-Api-Key: <key>`; browsers are not meant to use this. The lookup is
 * by digest, so its timing says nothing about the key itself.
 */
export function apiKeyAuthenticator(clientsByDigest: ReadonlyMap<string, ApiKeyClient>, header = 'x-api-key'): WsAuthenticateFn<ApiKeyClient> {
  const name = header.toLowerCase();
  return (request) => {
    const key = request.headers[name];
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) return null;
    const client = clientsByDigest.get(apiKeyDigest(key));
    return client ? { user: client, subject: `service:${client.name}`, roles: client.roles } : null;
  };
}
