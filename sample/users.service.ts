import { createHash, timingSafeEqual, type X509Certificate } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { WsAuthenticated, WsJwtClaims } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { leastPrivilege, UserRoleStore, type SampleRole } from './user-roles.js';

export interface SampleUser {
  id: string;
  username: string;
  roles: string[];
}

interface StoredUser extends SampleUser {
  passwordHash: Buffer;
}

const hash = (password: string) => createHash('sha256').update(password).digest();

// Demo users only; a real app keeps salted, slow password hashes (argon2, scrypt).
const USERS: StoredUser[] = [
  { id: '1', username: 'alice', roles: ['user'], passwordHash: hash('alice') },
  { id: '2', username: 'admin', roles: ['user', 'admin'], passwordHash: hash('admin') },
];

@Injectable()
export class UsersService {
  constructor(private readonly roleChanges: UserRoleStore) {}

  /** As created, without the roles an admin changed since: for a password check's first answer. */
  findById(id: unknown): SampleUser | undefined {
    const user = USERS.find((candidate) => candidate.id === id);
    return user && publicView(user);
  }

  findByUsername(username: unknown): SampleUser | undefined {
    const user = USERS.find((candidate) => candidate.username === username);
    return user && publicView(user);
  }

  /**
   * The user with the roles it has now, as every instance sees them: what sockets are opened
   * and re-checked with (validate), so an admin's role change reaches open connections.
   */
  async current(id: unknown): Promise<SampleUser | undefined> {
    const user = this.findById(id);
    if (!user) return undefined;
    let changed: SampleRole[] | undefined;
    try {
      changed = await this.roleChanges.get(user.id);
    } catch {
      // Roles unknown (the shared store is down): the user stays in, with no role an admin
      // grants, rather than with one an admin may have taken away.
      return { ...user, roles: leastPrivilege(user.roles) };
    }
    return changed ? { ...user, roles: changed } : user;
  }

  async currentByUsername(username: unknown): Promise<SampleUser | undefined> {
    return this.current(this.findByUsername(username)?.id);
  }

  /**
   * Gives a user these roles (already checked to be known ones), in the store every instance
   * reads. Re-checking the user's open connections is the caller's part (WsConnections.revalidate).
   */
  async setRoles(id: string, roles: readonly SampleRole[]): Promise<SampleUser | undefined> {
    const user = this.findById(id);
    if (!user) return undefined;
    await this.roleChanges.set(user.id, roles);
    return { ...user, roles: [...roles] };
  }

  /** A client certificate's CN names a sample user; its id is the subject, as in tokens. */
  async fromCertificate(certificate: X509Certificate): Promise<WsAuthenticated<SampleUser> | undefined> {
    const user = await this.currentByUsername(/^CN=(.+)$/m.exec(certificate.subject)?.[1]);
    return user && { user, subject: user.id, roles: user.roles };
  }

  /** With JWKS_URL, the identity provider is the authority on who the user is and what roles it has. */
  fromIdentityProvider(claims: WsJwtClaims): SampleUser | undefined {
    const username = claims.preferred_username ?? claims.username;
    if (typeof claims.sub !== 'string' || typeof username !== 'string') return undefined;
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((role): role is string => typeof role === 'string') : [];
    return { id: claims.sub, username, roles };
  }

  checkPassword(username: unknown, password: unknown): SampleUser | undefined {
    if (typeof username !== 'string' || typeof password !== 'string') return undefined;
    const user = USERS.find((candidate) => candidate.username === username);
    const matches = timingSafeEqual(hash(password), user?.passwordHash ?? hash('\0no user'));
    return user && matches ? publicView(user) : undefined;
  }
}

function publicView({ id, username, roles }: StoredUser): SampleUser {
  return { id, username, roles: [...roles] };
}
