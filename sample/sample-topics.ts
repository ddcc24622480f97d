import type { WsTopicPolicy } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import type { SampleUser } from './users.service.js';

export const GENERAL_ROOM = 'room:general';
export const ADMINS_ROOM = 'room:admins';
export const DOC_PREFIX = 'doc:';

/** A topic name as the sample accepts it anywhere: short, printable, no spaces. */
export const TOPIC_NAME = /^[A-Za-z0-9:_.-]{1,100}$/;
/** A document topic a token can be asked for: `doc:` and an id. */
export const DOC_TOPIC = /^doc:[A-Za-z0-9_-]{1,64}$/;

/**
 * Who may join what. `room:general`: any authenticated user. `room:admins`: the connection's
 * roles (which follow the user store, so a demoted admin is let go at the re-check).
 * `doc:<id>`: a topic token for that exact topic (POST /auth/topic-token decides who gets
 * one: docTokenAllowed), and that decision still holding, now and at every role change.
 */
export const SAMPLE_TOPIC_POLICIES: readonly WsTopicPolicy[] = [
  { pattern: GENERAL_ROOM, authorize: () => true },
  { pattern: ADMINS_ROOM, authorize: (identity) => identity.roles.includes('admin') },
  // The token proves the route's decision; the same decision must still hold, so a demoted
  // admin's token for another's document stops opening it, and a held one is left.
  { pattern: `${DOC_PREFIX}*`, requireToken: true, authorize: (identity, topic) => docTokenAllowed(identity.user as SampleUser, topic) },
];

// The sample's document permissions; a real app asks its own store.
const DOCS_BY_USERNAME: Readonly<Record<string, readonly string[]>> = { alice: ['doc:1'] };

/** Admins may have any document; others the ones listed for them. */
export function docTokenAllowed(user: SampleUser, topic: string): boolean {
  return user.roles.includes('admin') || (DOCS_BY_USERNAME[user.username]?.includes(topic) ?? false);
}
