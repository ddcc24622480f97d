import { HttpException, Logger } from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import { WsAuthException } from '../refusals/ws-auth.exception.js';
import { errorName } from '../refusals/to-refusal.js';
import { WsRefusal, type WsRefusalReason } from '../refusals/ws-refusal.js';

const logger = new Logger('WsAuth');

// What a guard's HTTP exception means at the upgrade (as toRefusal maps them elsewhere). 429
// keeps a throttling guard's status (with Retry-After: 1); a status not listed here is an app
// bug, answered as one.
const BY_HTTP_STATUS: Readonly<Record<number, WsRefusalReason>> = {
  400: 'malformed_request',
  401: 'invalid_credential',
  403: 'forbidden',
  429: 'too_many_requests',
  503: 'unavailable',
};

/**
 * What a connection guard threw, as the refusal of the upgrade. A WsException is what a guard
 * throws per message to deny, so it denies here too. Anything else is a bug in the guard:
 * 500, and one log line naming the guard and the error's name, never its message, which may
 * quote the credential or the request.
 */
export function guardRefusal(error: unknown, guard: string, gateway: string): WsRefusal {
  if (error instanceof WsRefusal) return error;
  if (error instanceof WsAuthException) return error.refusal;
  if (error instanceof WsException) return new WsRefusal('forbidden');
  const reason = error instanceof HttpException ? BY_HTTP_STATUS[error.getStatus()] : undefined;
  if (reason) return new WsRefusal(reason);
  logger.error(`Connection guard ${guard} of ${gateway} threw ${errorName(error)}; the connection was refused`);
  return new WsRefusal('internal_error');
}
