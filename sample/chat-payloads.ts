import { WsAuthException } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { TOPIC_NAME } from './sample-topics.js';
import { isSampleRole, SAMPLE_ROLES, type SampleRole } from './user-roles.js';

/** Longer `say` texts are refused, not cut: the sender learns its message did not go out. */
export const MAX_SAY_LENGTH = 2000;
// A topic token is a compact JWT of a few claims; anything far larger is not one.
const MAX_TOPIC_TOKEN_LENGTH = 4096;

// Every malformed payload gets the same fixed answer, never an echo of what was sent:
// {"event":"exception","data":{"status":"error","message":"Bad Request","code":"bad_request"}}.
const malformed = () => new WsAuthException('malformed_request');

function objectOf(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw malformed();
  return body as Record<string, unknown>;
}

function topicOf(body: Record<string, unknown>): string {
  const { topic } = body;
  if (typeof topic !== 'string' || !TOPIC_NAME.test(topic)) throw malformed();
  return topic;
}

/** `join`: `{ topic, token? }`. */
export function joinPayload(body: unknown): { topic: string; token?: string } {
  const fields = objectOf(body);
  const topic = topicOf(fields);
  const { token } = fields;
  if (token === undefined || token === null) return { topic };
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOPIC_TOKEN_LENGTH) throw malformed();
  return { topic, token };
}

/** `leave`: `{ topic }`. */
export function leavePayload(body: unknown): { topic: string } {
  return { topic: topicOf(objectOf(body)) };
}

/** `say`: `{ topic, text }`, the text non-empty and at most MAX_SAY_LENGTH characters. */
export function sayPayload(body: unknown): { topic: string; text: string } {
  const fields = objectOf(body);
  const topic = topicOf(fields);
  const { text } = fields;
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_SAY_LENGTH) throw malformed();
  return { topic, text };
}

/** `admin:set-roles`: `{ username, roles }`, roles a list of known ones (duplicates dropped, in SAMPLE_ROLES order). */
export function setRolesPayload(body: unknown): { username: unknown; roles: SampleRole[] } {
  const fields = objectOf(body);
  const { roles } = fields;
  if (!Array.isArray(roles) || roles.length > SAMPLE_ROLES.length * 2 || !roles.every(isSampleRole)) throw malformed();
  return { username: fields.username, roles: SAMPLE_ROLES.filter((role) => roles.includes(role)) };
}
