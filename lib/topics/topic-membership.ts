import type { WebSocket } from 'ws';
import type { Expiring } from '../connections/expiry-scheduler.js';

/** What a grant's deadline calls back: the service that owns it. */
export interface TopicExpiry {
  expire(grant: TopicGrant): void;
}

/**
 * One connection's place in one topic: how it was let in and, by a token, until when. The
 * grant is its own expiry item, so a token-held topic costs one object and no closure.
 */
export class TopicGrant implements Expiring {
  /** Let in by a policy: held until left, or until a re-authorization refuses. */
  policy = false;
  /** Epoch ms at which the token that let it in stops being admitted. */
  tokenExpiresAt?: number;
  tokenSubject?: string;
  /** The token's `jti` and `iat`: a revocation of either ends what the token holds. */
  tokenId?: unknown;
  tokenIssuedAt?: unknown;
  warned = false;
  /** The expiry scheduler's key while scheduled. */
  key?: number;

  constructor(
    readonly client: WebSocket,
    readonly topic: string,
    private readonly owner: TopicExpiry,
  ) {}

  /** null: no deadline (a policy holds it). */
  get expiresAt(): number | null {
    return this.policy || this.tokenExpiresAt === undefined ? null : this.tokenExpiresAt;
  }

  tick(): void {
    this.key = undefined;
    this.owner.expire(this);
  }
}

/**
 * Who is in which topic, both ways, for what was joined only: an entry goes with its last
 * member or its connection's last topic, so an idle server holds nothing.
 */
export class TopicMembership {
  private readonly byClient = new Map<WebSocket, Map<string, TopicGrant>>();
  private readonly byTopic = new Map<string, Set<WebSocket>>();

  grantOf(client: WebSocket, topic: string): TopicGrant | undefined {
    return this.byClient.get(client)?.get(topic);
  }

  grantsOf(client: WebSocket): ReadonlyMap<string, TopicGrant> | undefined {
    return this.byClient.get(client);
  }

  /** Every grant, for the rare sweep (a revocation): never on a hot path. */
  *all(): Iterable<TopicGrant> {
    for (const grants of this.byClient.values()) yield* grants.values();
  }

  membersOf(topic: string): ReadonlySet<WebSocket> | undefined {
    return this.byTopic.get(topic);
  }

  /** Adds a grant; true when it is the connection's first topic. */
  add(grant: TopicGrant): boolean {
    let grants = this.byClient.get(grant.client);
    const first = !grants;
    if (!grants) this.byClient.set(grant.client, (grants = new Map()));
    grants.set(grant.topic, grant);
    let members = this.byTopic.get(grant.topic);
    if (!members) this.byTopic.set(grant.topic, (members = new Set()));
    members.add(grant.client);
    return first;
  }

  /** Removes one grant; `last` tells whether the connection has no topic left. */
  remove(client: WebSocket, topic: string): { grant?: TopicGrant; last: boolean } {
    const grants = this.byClient.get(client);
    const grant = grants?.get(topic);
    if (!grants || !grant) return { last: !grants };
    grants.delete(topic);
    if (grants.size === 0) this.byClient.delete(client);
    const members = this.byTopic.get(topic)!;
    members.delete(client);
    if (members.size === 0) this.byTopic.delete(topic);
    return { grant, last: grants.size === 0 };
  }

  /** Removes every grant of a connection and returns them. */
  removeAll(client: WebSocket): TopicGrant[] {
    const grants = this.byClient.get(client);
    if (!grants) return [];
    this.byClient.delete(client);
    for (const topic of grants.keys()) {
      const members = this.byTopic.get(topic)!;
      members.delete(client);
      if (members.size === 0) this.byTopic.delete(topic);
    }
    return [...grants.values()];
  }

  get connections(): number {
    return this.byClient.size;
  }

  get topics(): number {
    return this.byTopic.size;
  }
}
