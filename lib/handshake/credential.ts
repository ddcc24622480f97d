import type { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { WsCredentialSource } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import type { ClientCertificateReader } from './client-certificate.js';
import { readCookie } from './cookie-value.js';
import { BEARER_PROTOCOL_PREFIX, isCredentialProtocol, splitProtocols } from './subprotocol.js';

export type Credential = { readonly source: 'certificate'; readonly certificate: X509Certificate } | { readonly source: TokenSource; readonly token: string };

type TokenSource = Exclude<WsCredentialSource, 'certificate'>;

export interface CredentialOptions {
  readonly cookieName: string;
  readonly queryParam: string;
  readonly certificates?: ClientCertificateReader;
}

const BEARER_SCHEME = /^bearer[ \t]+(\S*)[ \t]*$/i;

/**
 * The first source present, in the configured order, is THE credential: a request that
 * carries a bad header token is refused even if its cookie would pass, so an attacker
 * cannot probe one source and fall back to another.
 */
export function takeCredential(request: IncomingMessage, sources: readonly WsCredentialSource[], options: CredentialOptions): Credential | undefined {
  for (const source of sources) {
    if (source === 'certificate') {
      const certificate = options.certificates?.read(request);
      if (certificate) return { source, certificate };
      continue;
    }
    const token = READERS[source](request, options);
    if (token !== undefined) return { source, token };
  }
  return undefined;
}

type Reader = (request: IncomingMessage, options: CredentialOptions) => string | undefined;

const TICKET_PARAM = 'ticket';

const READERS: Readonly<Record<TokenSource, Reader>> = {
  ticket: (request) => fromQuery(request, TICKET_PARAM),
  header: fromAuthorizationHeader,
  subprotocol: (request) => detached(fromSubprotocol(request)),
  cookie: (request, { cookieName }) => detached(readCookie(request.headers.cookie, cookieName)),
  query: (request, { queryParam }) => fromQuery(request, queryParam),
};

/**
 * A token cut out of a header is a view of the whole header: kept (the cache of verified tokens
 * keeps the text of up to 10,000), it would keep every other cookie or protocol of that header
 * alive too, up to Node's 16 KB header limit per token instead of its own length. A copy holds
 * only its own characters. Header text is Latin-1 as Node decodes it, so the copy is exact.
 * (An Authorization header holds the token and its scheme, nothing else worth copying.)
 */
function detached(token: string | undefined): string | undefined {
  return token === undefined ? undefined : Buffer.from(token, 'latin1').toString('latin1');
}

function fromAuthorizationHeader(request: IncomingMessage): string | undefined {
  const value = request.headers.authorization;
  if (value === undefined) return undefined;
  // A present header that is not a bearer token is still THE credential, and it is bad.
  return BEARER_SCHEME.exec(value)?.[1] ?? '';
}

function fromSubprotocol(request: IncomingMessage): string | undefined {
  const offered = splitProtocols(request.headers['sec-websocket-protocol'] as string | undefined);
  const tokens = offered.filter(isCredentialProtocol);
  if (tokens.length > 1) throw new WsRefusal('ambiguous_credential');
  return tokens[0]?.slice(BEARER_PROTOCOL_PREFIX.length);
}

function fromQuery(request: IncomingMessage, name: string): string | undefined {
  const url = request.url ?? '';
  const start = url.indexOf('?');
  if (start === -1) return undefined;
  const values = new URLSearchParams(url.slice(start + 1)).getAll(name);
  if (values.length > 1) throw new WsRefusal('ambiguous_credential');
  return values[0];
}

/**
 * Node keeps only the first of duplicated Authorization headers (http.IncomingMessage
 * docs), so a smuggled second one would go unseen without looking at the raw list.
 */
export function hasDuplicateAuthorization(request: IncomingMessage): boolean {
  let seen = 0;
  const raw = request.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 13 && raw[i].toLowerCase() === 'authorization' && ++seen > 1) return true;
  }
  return false;
}
