import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { sendEvent } from '../connections/close-with.js';
import { ExpiryScheduler } from '../connections/expiry-scheduler.js';
import { sessionOf } from '../connections/session-of.js';
import { WsConnections } from '../connections/ws-connections.service.js';
import { withDeadline } from '../handshake/deadline.js';
import { getWsIdentity } from '../identity/identity-store.js';
import type { WsIdentity } from '../identity/ws-identity.js';
import { errorName } from '../refusals/to-refusal.js';
import { WsAuthException } from '../refusals/ws-auth.exception.js';
import type { WsRefusalReason } from '../refusals/ws-refusal.js';
import { failStartup } from '../startup-checks.js';
import { WsAuthConfig } from '../ws-auth.config.js';
import { WsRevocations } from '../revocations/ws-revocations.service.js';
import type { WsAuthOptions } from '../ws-auth-options.interface.js';
import {
  DEFAULT_CLOSE_GRACE_MS,
  DEFAULT_EXPIRY_WARNING_MS,
  DEFAULT_MAX_TOPIC_BUFFERED_BYTES,
  DEFAULT_MAX_TOPICS_PER_CONNECTION,
  DEFAULT_VERIFY_TIMEOUT_MS,
  WS_AUTH_OPTIONS,
} from '../ws-auth.constants.js';
import { TopicGrant, TopicMembership } from './topic-membership.js';
import { isTopicName, patternCovers, TopicPolicies } from './topic-patterns.js';
import { TopicTokenVerifier, topicTokenOptions, type TopicGrantClaims } from './topic-token-verifier.js';
import { topicMessageOf, WsTopicBus, type WsTopicMessage } from './ws-topic-bus.js';

/** A granted join: `expiresAt` is the epoch ms its topic token expires, null when a policy let it in. */
export interface WsTopicJoin {
  topic: string;
  expiresAt: number | null;
}

const OPEN = 1;
// RFC 6455 section 7.4.1: 1008, a policy violation; here, reading too slowly to be kept.
const TOO_SLOW = 1008;
const TEXT = { binary: false } as const;
// A join whose identity keeps changing under it is decided again this many times, then refused.
const MAX_REDECISIONS = 3;

// Which service a socket's topics belong to, for the one 'close' listener every socket shares.
const owners = new WeakMap<WebSocket, WsTopics>();

/**
 * Topics for native `ws` gateways, which have no rooms: join (authorized by a policy or a topic
 * token), leave, publish to every member on every instance. A connection leaves its topics
 * when it closes, when its topic token expires, or when a change of identity no longer allows
 * them; each of these but the close is told to the client (`unsubscribed`).
 */
@Injectable()
// TopicExpiry is met structurally: `expire` is internal, and the published types omit it.
export class WsTopics implements OnModuleInit {
  private readonly logger = new Logger('WsAuth');
  /** Tells this instance's publications apart when the bus brings them back. */
  private readonly instance = randomUUID();
  private readonly policies: TopicPolicies;
  private readonly tokens?: TopicTokenVerifier;
  private readonly maxTopics: number;
  private readonly maxBufferedBytes: number;
  private readonly decisionTimeoutMs: number;
  private readonly membership = new TopicMembership();
  // Joins under way, per connection and topic: they count against the limit until they settle.
  private readonly pending = new Map<WebSocket, Map<string, number>>();
  // Topics a connection left while a join of them was under way: that join must not land
  // after the leave the client sent behind it. Cleared when the last such join settles.
  private readonly leftWhileJoining = new Map<WebSocket, Set<string>>();
  private readonly scheduler = new ExpiryScheduler();

  constructor(
    @Inject(WS_AUTH_OPTIONS) private readonly options: WsAuthOptions,
    private readonly bus: WsTopicBus,
    private readonly connections: WsConnections,
    private readonly config: WsAuthConfig,
    private readonly revocations: WsRevocations,
  ) {
    const topics = options?.topics;
    if (topics !== undefined && (typeof topics !== 'object' || topics === null)) failStartup('topics must be an object.');
    this.policies = new TopicPolicies(topics?.policies);
    this.maxTopics = topics?.maxTopicsPerConnection ?? DEFAULT_MAX_TOPICS_PER_CONNECTION;
    this.maxBufferedBytes = topics?.maxBufferedBytes ?? DEFAULT_MAX_TOPIC_BUFFERED_BYTES;
    if (!Number.isSafeInteger(this.maxTopics) || this.maxTopics <= 0) failStartup('topics.maxTopicsPerConnection must be a positive whole number.');
    if (!Number.isSafeInteger(this.maxBufferedBytes) || this.maxBufferedBytes <= 0) failStartup('topics.maxBufferedBytes must be a positive whole number.');
    this.decisionTimeoutMs = options?.verifyTimeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS;
    // Without `topics`, no verifier is built: an app that uses no topics fetches no second JWKS.
    const tokenOptions = topics && topicTokenOptions(topics.tokens, options.jwt);
    if (tokenOptions) this.tokens = new TopicTokenVerifier(tokenOptions);
  }

  async onModuleInit(): Promise<void> {
    this.connections.onIdentityChanged((client, identity) => this.reauthorize(client, identity));
    this.revocations.onApplied(() => this.dropRevokedTokens());
    await Promise.all([this.tokens?.init(), this.bus.subscribe((message) => this.receive(message))]);
  }

  /**
   * Joins `topic` when a topic token grants it, or else when its policy's `authorize` returns
   * true. Refusals throw WsAuthException, which a gateway handler that awaits this answers
   * with an `exception` frame; the socket stays open.
   */
  async join(client: WebSocket, topic: string, options: { token?: string; data?: unknown } = {}): Promise<WsTopicJoin> {
    if (!isTopicName(topic)) throw refusal('malformed_request');
    const { token, data } = options ?? {};
    if (token !== undefined && typeof token !== 'string') throw refusal('forbidden');
    if (!this.identityOf(client)) throw refusal('forbidden');
    const release = this.reserve(client, topic);
    try {
      const grant = token === undefined ? undefined : await this.verifyToken(token);
      // Every await may see the socket close or its identity change: decide again with the
      // identity the connection has now, so a join never lands on a closed or demoted one.
      let identity = this.identityOf(client);
      for (let decisions = 0; ; decisions++) {
        if (!identity || decisions === MAX_REDECISIONS) throw refusal('forbidden');
        const allowed = await this.joinAllowed(grant, identity, topic, data);
        const current = this.identityOf(client);
        if (current !== identity) {
          identity = current;
          continue;
        }
        if (this.leftWhileJoining.get(client)?.has(topic)) throw refusal('forbidden');
        // A revocation may have landed while the policy was awaited: the token holds nothing then.
        if (grant && !this.liveCredential(grant)) throw refusal('forbidden');
        if (allowed) return this.admit(client, topic, grant);
        // A re-join without a token keeps what a still valid token already holds.
        const held = this.membership.grantOf(client, topic);
        if (!grant && held && tokenStillGrants(held, identity)) return { topic, expiresAt: held.expiresAt };
        throw refusal('forbidden');
      }
    } finally {
      release();
    }
  }

  /** Leaves `topic` (and cancels a join of it still under way); false when the connection was not in it. */
  leave(client: WebSocket, topic: string): boolean {
    if (this.pending.get(client)?.has(topic)) {
      let left = this.leftWhileJoining.get(client);
      if (!left) this.leftWhileJoining.set(client, (left = new Set()));
      left.add(topic);
    }
    return this.remove(client, topic) !== undefined;
  }

  /**
   * Sends `{"event","data"}` to this instance's open, authenticated members of `topic`, then
   * hands it to the bus for the other instances. Resolves with the number sent here; rejects
   * when the bus fails (after the members here got it). Remote delivery is not awaited.
   */
  async publish(topic: string, event: string, data: unknown): Promise<number> {
    if (!isTopicName(topic)) throw new TypeError('WsTopics: publish() needs a topic of 1 to 200 characters without control characters.');
    if (typeof event !== 'string' || event === '') throw new TypeError('WsTopics: publish() needs a non-empty event name.');
    const sent = this.deliver(topic, JSON.stringify({ event, data }));
    await this.bus.publish({ origin: this.instance, topic, event, data });
    return sent;
  }

  topicsOf(client: WebSocket): string[] {
    return [...(this.membership.grantsOf(client)?.keys() ?? [])];
  }

  /** The members of `topic` connected to this instance. */
  membersOf(topic: string): WebSocket[] {
    return [...(this.membership.membersOf(topic) ?? [])];
  }

  isMember(client: WebSocket, topic: string): boolean {
    return this.membership.grantOf(client, topic) !== undefined;
  }

  /** @internal What the membership holds, to show that nothing outlives its connections. */
  get size(): { connections: number; topics: number; pendingJoins: number } {
    return { connections: this.membership.connections, topics: this.membership.topics, pendingJoins: this.pending.size + this.leftWhileJoining.size };
  }

  /** @internal A grant's deadline: warn once, then leave at expiry. */
  expire(grant: TopicGrant): void {
    const { client, topic } = grant;
    if (this.membership.grantOf(client, topic) !== grant) return;
    const expiresAt = grant.expiresAt;
    if (expiresAt === null) return;
    const now = Date.now();
    if (now >= expiresAt) {
      this.remove(client, topic);
      return sendEvent(client, 'unsubscribed', { topic, reason: 'expired' });
    }
    if (!grant.warned && now >= expiresAt - this.warningMsOf(client)) {
      grant.warned = true;
      sendEvent(client, 'topic_expiring', { topic, expiresAt });
    }
    this.schedule(grant);
  }

  /** @internal The 'close' of a socket that is in topics. */
  leaveAll(client: WebSocket): void {
    for (const grant of this.membership.removeAll(client)) this.unschedule(grant);
    client.off('close', leaveOnClose);
    owners.delete(client);
  }

  private identityOf(client: WebSocket): WsIdentity | undefined {
    return client?.readyState === OPEN ? getWsIdentity(client) : undefined;
  }

  /**
   * Counts a join against the connection's limit while it is decided, so concurrent joins of
   * the same topic count once and concurrent joins of others cannot overshoot together.
   */
  private reserve(client: WebSocket, topic: string): () => void {
    const joined = this.membership.grantsOf(client);
    let pending = this.pending.get(client);
    if (!joined?.has(topic) && !pending?.has(topic)) {
      let count = joined?.size ?? 0;
      for (const other of pending?.keys() ?? []) if (!joined?.has(other)) count++;
      if (count >= this.maxTopics) throw refusal('too_many_requests');
    }
    if (!pending) this.pending.set(client, (pending = new Map()));
    pending.set(topic, (pending.get(topic) ?? 0) + 1);
    return () => {
      const left = pending.get(topic)! - 1;
      if (left > 0) return void pending.set(topic, left);
      pending.delete(topic);
      const cancelled = this.leftWhileJoining.get(client);
      if (cancelled?.delete(topic) && cancelled.size === 0) this.leftWhileJoining.delete(client);
      if (pending.size === 0 && this.pending.get(client) === pending) this.pending.delete(client);
    };
  }

  private async verifyToken(token: string): Promise<TopicGrantClaims> {
    if (!this.tokens) throw refusal('forbidden');
    let grant: TopicGrantClaims;
    try {
      grant = await withDeadline(this.tokens.verify(token), this.decisionTimeoutMs);
    } catch {
      // Whatever was wrong with it (signature, type, claims, a key server), the answer is the same.
      throw refusal('forbidden');
    }
    if (!this.liveCredential(grant)) throw refusal('forbidden');
    return grant;
  }

  /**
   * A topic token is a credential of its subject: "log out everywhere" and a revoked `jti` end
   * it too, and, as for access tokens, it may not outlive the time a revocation is kept, nor
   * come without the `iat` that places it before or after one.
   */
  private liveCredential(grant: TopicGrantClaims): boolean {
    const { revocations, revocationLifetimeMs, clockToleranceSeconds } = this.config;
    if (revocations.covers(grant.subject, grant.id, grant.issuedAt)) return false;
    if (grant.lifetimeSeconds === undefined) return this.options.revocation?.requireIssuedAt === false;
    return grant.lifetimeSeconds <= revocationLifetimeMs / 1000 + clockToleranceSeconds;
  }

  /**
   * A token alone, or the policy alone; with `requireToken`, the token and the policy's
   * `authorize` both.
   */
  private async joinAllowed(grant: TopicGrantClaims | undefined, identity: WsIdentity, topic: string, data: unknown): Promise<boolean> {
    const policy = this.policies.match(topic);
    if (!policy?.requireToken) return grant ? tokenGrants(grant, identity, topic) : this.policyAllows(identity, topic, data);
    if (!grant || !tokenGrants(grant, identity, topic)) return false;
    return policy.authorize === undefined || this.policyAllows(identity, topic, data);
  }

  private async policyAllows(identity: WsIdentity, topic: string, data: unknown): Promise<boolean> {
    const authorize = this.policies.match(topic)?.authorize;
    if (!authorize) return false;
    try {
      return (await withDeadline(authorize(identity, topic, data), this.decisionTimeoutMs)) === true;
    } catch (error) {
      // The name only: an app's message may quote the topic data or a credential.
      this.logger.error(`A topic policy's authorize() threw ${errorName(error)}; the join was refused`);
      return false;
    }
  }

  private admit(client: WebSocket, topic: string, claims: TopicGrantClaims | undefined): WsTopicJoin {
    let grant = this.membership.grantOf(client, topic);
    if (!grant) {
      // Reserved at the start, but a concurrent leave and re-join may have moved the count.
      if ((this.membership.grantsOf(client)?.size ?? 0) >= this.maxTopics) throw refusal('too_many_requests');
      grant = new TopicGrant(client, topic, this);
      if (this.membership.add(grant)) {
        owners.set(client, this);
        // `on`, not `once`: 'close' fires once, and `once` would allocate a wrapper per socket.
        client.on('close', leaveOnClose);
      }
    }
    if (!claims) {
      grant.policy = true;
    } else if (grant.tokenExpiresAt === undefined || claims.expiresAt > grant.tokenExpiresAt) {
      grant.tokenExpiresAt = claims.expiresAt;
      grant.tokenSubject = claims.subject;
      grant.tokenId = claims.id;
      grant.tokenIssuedAt = claims.issuedAt;
      grant.warned = false;
    }
    this.schedule(grant);
    return { topic, expiresAt: grant.expiresAt };
  }

  private remove(client: WebSocket, topic: string): TopicGrant | undefined {
    const { grant, last } = this.membership.remove(client, topic);
    if (grant) this.unschedule(grant);
    if (last) {
      client.off('close', leaveOnClose);
      owners.delete(client);
    }
    return grant;
  }

  /** Sends one serialised frame to every open, authenticated member here; returns how many got it. */
  private deliver(topic: string, text: string): number {
    const members = this.membership.membersOf(topic);
    if (!members) return 0;
    const frame = Buffer.from(text);
    let sent = 0;
    let slow: WebSocket[] | undefined;
    for (const client of members) {
      // A socket closed for an auth reason has no identity from then on: nothing more reaches it.
      if (client.readyState !== OPEN || !getWsIdentity(client)) continue;
      const buffered = client.bufferedAmount;
      if (buffered > 0 && buffered + frame.length > this.maxBufferedBytes) {
        (slow ??= []).push(client);
        continue;
      }
      client.send(frame, TEXT);
      sent++;
    }
    for (const client of slow ?? []) this.closeSlow(client);
    return sent;
  }

  /**
   * A reader that falls this far behind would make the server hold every frame it has not
   * read: it is closed instead, and destroyed if it does not complete the close in time.
   */
  private closeSlow(client: WebSocket): void {
    this.leaveAll(client);
    client.close(TOO_SLOW, 'Too slow');
    const graceMs = sessionOf(client)?.authenticator.settings.closeGraceMs ?? this.options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    setTimeout(terminate, graceMs, client).unref();
  }

  private receive(message: WsTopicMessage): void {
    const checked = topicMessageOf(message);
    if (!checked || checked.origin === this.instance) return;
    let text: string;
    try {
      text = JSON.stringify({ event: checked.event, data: checked.data });
    } catch {
      return;
    }
    this.deliver(checked.topic, text);
  }

  /**
   * A revoked topic token holds nothing from then on: the topics it alone held are left
   * (`unsubscribed`, `forbidden`); one a policy also holds stays, without the token's deadline.
   * Revocations are rare, so every grant is looked at; nothing is indexed per token.
   */
  private dropRevokedTokens(): void {
    const { revocations } = this.config;
    for (const grant of [...this.membership.all()]) {
      if (grant.tokenExpiresAt === undefined || !revocations.covers(grant.tokenSubject, grant.tokenId, grant.tokenIssuedAt)) continue;
      grant.tokenExpiresAt = grant.tokenSubject = grant.tokenId = grant.tokenIssuedAt = undefined;
      if (grant.policy) {
        this.schedule(grant);
        continue;
      }
      this.remove(grant.client, grant.topic);
      sendEvent(grant.client, 'unsubscribed', { topic: grant.topic, reason: 'forbidden' });
    }
  }

  /** The identity of `client` changed in place: its topics are decided again under the new one. */
  private reauthorize(client: WebSocket, identity: WsIdentity): void {
    const grants = this.membership.grantsOf(client);
    if (!grants) return;
    for (const grant of [...grants.values()]) {
      // Called inside WsConnections' identity replacement: nothing may throw back into it.
      this.recheck(grant, identity).catch((error: unknown) => this.logger.error(`Topic re-authorization failed: ${errorName(error)}`));
    }
  }

  private async recheck(grant: TopicGrant, identity: WsIdentity): Promise<void> {
    const { client, topic } = grant;
    if (this.policies.match(topic)?.requireToken) return this.recheckTokenAndPolicy(grant, identity);
    const allowed = grant.policy && (await this.policyAllows(identity, topic, undefined));
    // Left meanwhile, or a newer identity whose own re-check decides.
    if (this.membership.grantOf(client, topic) !== grant || getWsIdentity(client) !== identity) return;
    if (grant.tokenSubject !== undefined && grant.tokenSubject !== identity.subject) {
      grant.tokenExpiresAt = undefined;
      grant.tokenSubject = undefined;
    }
    if (allowed) return;
    if (tokenStillGrants(grant, identity)) {
      grant.policy = false;
      return this.schedule(grant);
    }
    this.remove(client, topic);
    sendEvent(client, 'unsubscribed', { topic, reason: 'forbidden' });
  }

  /** `requireToken`: the token must still grant the topic, and the policy still allow it. */
  private async recheckTokenAndPolicy(grant: TopicGrant, identity: WsIdentity): Promise<void> {
    const { client, topic } = grant;
    const authorize = this.policies.match(topic)?.authorize;
    const allowed = tokenStillGrants(grant, identity) && (authorize === undefined || (await this.policyAllows(identity, topic, undefined)));
    if (this.membership.grantOf(client, topic) !== grant || getWsIdentity(client) !== identity) return;
    if (allowed) return;
    this.remove(client, topic);
    sendEvent(client, 'unsubscribed', { topic, reason: 'forbidden' });
  }

  private warningMsOf(client: WebSocket): number {
    return sessionOf(client)?.authenticator.settings.expiryWarningMs ?? this.options.expiryWarningMs ?? DEFAULT_EXPIRY_WARNING_MS;
  }

  private schedule(grant: TopicGrant): void {
    this.unschedule(grant);
    const expiresAt = grant.expiresAt;
    if (expiresAt === null) return;
    const warningMs = this.warningMsOf(grant.client);
    const dueAt = warningMs > 0 && !grant.warned ? expiresAt - warningMs : expiresAt;
    grant.key = this.scheduler.schedule(grant, dueAt);
  }

  private unschedule(grant: TopicGrant): void {
    if (grant.key === undefined) return;
    this.scheduler.cancel(grant, grant.key);
    grant.key = undefined;
  }
}

/** A token grants a topic to the one subject it names, and a connection without a subject to none. */
function tokenGrants(claims: TopicGrantClaims, identity: WsIdentity, topic: string): boolean {
  return identity.subject !== undefined && claims.subject === identity.subject && patternCovers(claims.pattern, topic);
}

function tokenStillGrants(grant: TopicGrant, identity: WsIdentity): boolean {
  return grant.tokenExpiresAt !== undefined && grant.tokenExpiresAt > Date.now() && identity.subject !== undefined && grant.tokenSubject === identity.subject;
}

function refusal(reason: WsRefusalReason): WsAuthException {
  return new WsAuthException(reason);
}

function leaveOnClose(this: WebSocket): void {
  owners.get(this)?.leaveAll(this);
}

function terminate(client: WebSocket): void {
  client.terminate();
}
