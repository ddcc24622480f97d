import { createHash, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';

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
