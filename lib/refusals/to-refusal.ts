import { HttpException, Logger } from '@nestjs/common';
import { WsRefusal, type WsRefusalReason } from './ws-refusal.js';

const BY_HTTP_STATUS: Readonly<Record<number, WsRefusalReason>> = {
  400: 'malformed_request',
  401: 'invalid_credential',
  403: 'forbidden',
  503: 'unavailable',
};

const logger = new Logger('WsAuth');

/**
 * Maps whatever `validate()` or an authenticator threw to a refusal. Nest's own
 * Unauthorized/Forbidden exceptions work as users of @nestjs/passport expect; anything
 * else is an app bug, fails closed as 500/1011, and is logged with `where` it happened:
 * by error name only, since an app's message may quote what it was given.
 */
export function toRefusal(error: unknown, where?: string): WsRefusal {
  if (error instanceof WsRefusal) return error;
  if (error instanceof HttpException) return new WsRefusal(BY_HTTP_STATUS[error.getStatus()] ?? 'internal_error');
  if (where) logger.error(`validate() or authenticate() threw ${errorName(error)} during ${where}; refused`);
  return new WsRefusal('internal_error');
}

export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
