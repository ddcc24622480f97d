import { failStartup } from '../startup-checks.js';
import type { WsTopicPolicy } from './ws-topics-options.js';

export const MAX_TOPIC_LENGTH = 200;
// C0, DEL and C1: a topic ends up in logs and in frames other clients read.
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/** A topic a client may name: a non-empty string of at most 200 characters, no control characters. */
export function isTopicName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TOPIC_LENGTH && !hasControl(value);
}

/**
 * A pattern: an exact topic, or a prefix followed by one trailing `*`. A `*` anywhere else
 * is refused rather than read literally, so `doc:*:edit` can never look like a wildcard that
 * quietly matches nothing (or the one topic spelled that way).
 */
export function isTopicPattern(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TOPIC_LENGTH + 1) return false;
  const body = value.endsWith('*') ? value.slice(0, -1) : value;
  return !body.includes('*') && !hasControl(body) && (body.length > 0 ? body.length <= MAX_TOPIC_LENGTH : value === '*');
}

/** Whether a pattern (a policy's, or a topic token's `topic` claim) covers `topic`. */
export function patternCovers(pattern: string, topic: string): boolean {
  if (!isTopicPattern(pattern)) return false;
  return pattern.endsWith('*') ? topic.startsWith(pattern.slice(0, -1)) : topic === pattern;
}

/** The app's policies, checked at startup, each topic decided by its most specific pattern. */
export class TopicPolicies {
  private readonly exact = new Map<string, WsTopicPolicy>();
  // Longest first: the first prefix that matches is the most specific.
  private readonly prefixes: Array<{ prefix: string; policy: WsTopicPolicy }> = [];

  constructor(policies: readonly WsTopicPolicy[] = []) {
    if (!Array.isArray(policies)) failStartup('topics.policies must be an array.');
    const seen = new Set<string>();
    for (const policy of policies) {
      const pattern = (policy as Partial<WsTopicPolicy> | null)?.pattern;
      if (!isTopicPattern(pattern)) {
        failStartup('topics.policies: a pattern is an exact topic or a prefix ending in one "*" (1 to 200 characters, no control characters).');
      }
      if (seen.has(pattern)) failStartup(`topics.policies lists the pattern "${pattern}" twice.`);
      if (policy.authorize !== undefined && typeof policy.authorize !== 'function')
        failStartup(`topics.policies: authorize of "${pattern}" must be a function.`);
      if (policy.requireToken !== undefined && typeof policy.requireToken !== 'boolean')
        failStartup(`topics.policies: requireToken of "${pattern}" must be a boolean.`);
      seen.add(pattern);
      if (pattern.endsWith('*')) this.prefixes.push({ prefix: pattern.slice(0, -1), policy });
      else this.exact.set(pattern, policy);
    }
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The policy that decides `topic`, or undefined: then only a topic token opens it. */
  match(topic: string): WsTopicPolicy | undefined {
    const exact = this.exact.get(topic);
    if (exact) return exact;
    for (const { prefix, policy } of this.prefixes) if (topic.startsWith(prefix)) return policy;
    return undefined;
  }
}
