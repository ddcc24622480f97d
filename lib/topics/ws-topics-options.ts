import type { WsIdentity } from '../identity/ws-identity.js';
import type { WsAuthJwtOptions } from '../ws-auth-options.interface.js';
import type { WsTopicBus } from './ws-topic-bus.js';

/**
 * Who may join the topics a pattern names. `pattern` is an exact topic, or a prefix ending in
 * `*` (`doc:*`, or `*` for every topic); of the patterns matching a topic, the most specific
 * decides: the exact one, else the longest prefix.
 */
export interface WsTopicPolicy {
  pattern: string;
  /**
   * Allows a join when it returns exactly `true`; anything else, a throw or a rejection refuses.
   * Without it the matching topics open only to a topic token. `data` is what the client sent
   * with the join: untrusted input. When the connection's identity changes (a refresh, a
   * re-check), every topic it holds by policy is authorized again with the new identity and
   * `data` undefined: the join's data is not kept.
   */
  authorize?: (identity: WsIdentity, topic: string, data: unknown) => boolean | Promise<boolean>;
  /**
   * A topic token AND `authorize` (when there is one): the token proves what the HTTP side
   * decided, `authorize` what must still hold. Both are judged again whenever the connection's
   * identity changes, so a token granted for a role stops holding the topic once the role is
   * gone. Without it, a valid token alone opens the topic and holds it until its `exp`.
   */
  requireToken?: boolean;
}

/**
 * The keys and checks of topic tokens: JWTs with the header `typ: topic+jwt`, a `sub` equal to
 * the connection's subject, an `exp`, and a claim `topic` naming the topic or a `prefix*`.
 * Default: the module `jwt` options.
 */
export type WsTopicTokenOptions = Pick<
  WsAuthJwtOptions,
  'secret' | 'publicKey' | 'jwksUri' | 'jwks' | 'algorithms' | 'issuer' | 'audience' | 'clockToleranceSeconds' | 'maxTokenLength'
>;

/** Topics for native `ws` gateways, which have no rooms (`WsTopics`). */
export interface WsTopicsOptions {
  /** Without a matching policy, a topic opens only to a topic token: joins fail closed. */
  policies?: readonly WsTopicPolicy[];
  tokens?: WsTopicTokenOptions;
  /** Carries publications to the other instances. Default: this process only. `RedisTopicBus` for several. */
  bus?: WsTopicBus;
  /** Topics one connection may be in at once; one more is refused (too_many_requests). Default 100. */
  maxTopicsPerConnection?: number;
  /**
   * Bytes a recipient may leave unsent: one with more is closed (1008 'Too slow') rather than
   * sent more, so one slow reader never grows the server. Default 1 MiB.
   */
  maxBufferedBytes?: number;
}
