import { WsRefusal } from '../refusals/ws-refusal.js';

/**
 * Reads one cookie from a Cookie header (RFC 6265 section 5.4). Two cookies of the same
 * name are refused as ambiguous: which one the browser meant cannot be known here.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  let found: string | undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    if (found !== undefined) throw new WsRefusal('ambiguous_credential');
    found = unquote(pair.slice(eq + 1).trim());
  }
  return found;
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}
