import { createHash, timingSafeEqual, type X509Certificate } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { WsAuthenticated, WsJwtClaims } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'

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
  findById(id: unknown): SampleUser | undefined {
    const user = USERS.find((candidate) => candidate.id === id);
    return user && publicView(user);
  }

  findByUsername(username: unknown): SampleUser | undefined {
    const user = USERS.find((candidate) => candidate.username === username);
    return user && publicView(user);
  }

  /** A client certificate's CN names a sample user; its id is the subject, as in tokens. */
  fromCertificate(certificate: X509Certificate): WsAuthenticated<SampleUser> | undefined {
    const user = this.findByUsername(/^CN=(.+)$/m.exec(certificate.subject)?.[1]);
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
