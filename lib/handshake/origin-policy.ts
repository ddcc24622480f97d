/**
 * Cross-site WebSocket hijacking defence: browsers always send Origin on a WebSocket
 * handshake and attach cookies regardless of it, so the server must compare it exactly.
 */
export class OriginPolicy {
  private readonly allowed?: ReadonlySet<string>;

  constructor(allowedOrigins?: readonly string[]) {
    if (allowedOrigins) this.allowed = new Set(allowedOrigins.map(normalizeAllowedOrigin));
  }

  /** `origin` undefined means a non-browser client, which this check lets through. */
  permits(origin: string | undefined, host: string | undefined): boolean {
    if (origin === undefined) return true;
    const parsed = parseOrigin(origin);
    if (!parsed) return false;
    if (this.allowed) return this.allowed.has(parsed.origin);
    if (!host) return false;
    // Parsing Host with the Origin's own scheme normalises default ports on both sides.
    const own = tryUrl(`${parsed.protocol}//${host}`);
    return own !== undefined && own.host === parsed.host && own.pathname === '/';
  }
}

function tryUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

// A serialized origin is exactly scheme://host[:port]; "null", paths, credentials and
// anything that does not round-trip are refused rather than interpreted.
function parseOrigin(value: string): URL | undefined {
  const url = tryUrl(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  return url.origin === value.toLowerCase() ? url : undefined;
}

function normalizeAllowedOrigin(value: string): string {
  const url = tryUrl(value);
  if (value.includes('*')) {
    throw new Error(`WsAuthModule: allowedOrigins entry "${value}" has a wildcard; list every origin exactly.`);
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin === 'null') {
    throw new Error(`WsAuthModule: allowedOrigins entry "${value}" is not an http(s) origin.`);
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username) {
    throw new Error(`WsAuthModule: allowedOrigins entry "${value}" must be scheme://host[:port] only.`);
  }
  return url.origin;
}
