import type { WsIdentity } from './ws-identity.js';

// When a credential was issued decides whether a revocation by subject covers it. For a token
// that is its `iat`; a certificate's `notBefore` or the moment an app vouched for an identity
// are not claims, so they are kept beside the identity, not in it.
const issuedAt = new WeakMap<WsIdentity, number>();

export function recordIssuedAt(identity: WsIdentity, seconds: number | undefined): WsIdentity {
  if (seconds !== undefined && typeof identity.claims.iat !== 'number') issuedAt.set(identity, seconds);
  return identity;
}

/** Epoch seconds the identity's credential was issued at, or undefined (counts as long ago). */
export function issuedAtOf(identity: WsIdentity): unknown {
  return issuedAt.get(identity) ?? identity.claims.iat;
}
