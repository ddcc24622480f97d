import { WsRefusal } from './ws-refusal.js';

export interface RefusalResponse {
  readonly status: number;
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

const REALM = 'realm="websocket"';

/**
 * RFC 6750 section 3: a request that carried no credential gets a bare challenge; one whose
 * token failed gets `error="invalid_token"`. The description never names the cause.
 */
function challengeFor(refusal: WsRefusal): string | undefined {
  if (refusal.reason === 'missing_credential') return `Bearer ${REALM}`;
  if (refusal.reason === 'invalid_credential') return `Bearer ${REALM}, error="invalid_token"`;
  return undefined;
}

export function refusalResponse(refusal: WsRefusal): RefusalResponse {
  const challenge = challengeFor(refusal);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
  };
  if (challenge) headers['WWW-Authenticate'] = challenge;
  // RFC 6585 section 4: a 429 may say when to come back; a pending slot frees within seconds.
  if (refusal.status === 429) headers['Retry-After'] = '1';
  return { status: refusal.status, body: refusal.toBody(), headers };
}
