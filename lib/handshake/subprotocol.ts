/** A browser carries its token as one offered subprotocol, `bearer.<jwt>`. */
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

export function isCredentialProtocol(protocol: string): boolean {
  return protocol.toLowerCase().startsWith(BEARER_PROTOCOL_PREFIX);
}

export function splitProtocols(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
}

/**
 * `ws` answers with the first offered protocol unless told otherwise, which would echo the
 * token back in the handshake response. The credential entries are never selectable.
 */
export function selectableProtocols(offered: Iterable<string>): Set<string> {
  const selectable = new Set<string>();
  for (const protocol of offered) if (!isCredentialProtocol(protocol)) selectable.add(protocol);
  return selectable;
}
