import { HttpException } from '@nestjs/common';
import { WsRefusal, type WsRefusalReason } from './ws-refusal.js';

const BY_HTTP_STATUS: Readonly<Record<number, WsRefusalReason>> = {
  400: 'malformed_request',
  401: 'invalid_credential',
  403: 'forbidden',
  503: 'unavailable',
};

/**
 * Maps whatever `validate()` or an authenticator threw to a refusal. Nest's own
 * Unauthorized/Forbidden exceptions work as users of @nestjs/passport expect; anything
 * else is an app bug and fails closed as 500.
 */
export function toRefusal(error: unknown): WsRefusal {
  if (error instanceof WsRefusal) return error;
  if (error instanceof HttpException) return new WsRefusal(BY_HTTP_STATUS[error.getStatus()] ?? 'internal_error');
  return new WsRefusal('internal_error');
}
