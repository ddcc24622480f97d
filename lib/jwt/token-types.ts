/**
 * The JWT `typ` of a topic token (RFC 8725 section 3.11: explicit typing). A topic token must
 * carry it, and an access token carrying it is refused, so neither can stand in for the other.
 * Compared case-insensitively, with or without the `application/` prefix (RFC 7515 section 4.1.9).
 */
export const TOPIC_TOKEN_TYPE = 'topic+jwt';

/** Whether a JOSE header `typ` names a topic token. */
export function isTopicTokenType(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const lower = typ.toLowerCase();
  return lower === TOPIC_TOKEN_TYPE || lower === `application/${TOPIC_TOKEN_TYPE}`;
}
