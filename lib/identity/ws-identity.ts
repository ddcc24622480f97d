import type { WsCredentialSource } from '../ws-auth-options.interface.js';

/** Who is on the other end of a socket, established once during the upgrade. */
export interface WsIdentity<User = unknown> {
  readonly user: User;
  /** The stable id of the principal (JWT `sub`), when known. */
  readonly subject?: string;
  readonly roles: readonly string[];
  readonly claims: Readonly<Record<string, unknown>>;
  /** Epoch milliseconds; undefined when the credential does not expire. */
  readonly expiresAt?: number;
  /** How the connection authenticated: a handshake source (`certificate` included), `message` (in-band) or `custom`. */
  readonly source: WsCredentialSource | 'message' | 'custom';
}
