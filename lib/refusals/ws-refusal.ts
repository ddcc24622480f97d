/**
 * Why a client was turned away. The same reason decides the HTTP status during the
 * upgrade and the close code on an open socket, so both are documented in one table.
 */
export type WsRefusalReason =
  | 'missing_credential'
  | 'invalid_credential'
  | 'ambiguous_credential'
  | 'malformed_request'
  | 'origin_not_allowed'
  | 'forbidden'
  | 'revoked'
  | 'credential_revoked'
  | 'subject_changed'
  | 'credential_kind_changed'
  | 'authentication_timeout'
  | 'too_many_pending'
  | 'too_many_requests'
  | 'verification_timeout'
  | 'unavailable'
  | 'internal_error';

interface RefusalRule {
  readonly status: number;
  readonly closeCode: number;
  readonly code: 'unauthorized' | 'forbidden' | 'bad_request' | 'timeout' | 'too_many_requests' | 'unavailable' | 'internal_error';
  readonly message: string;
}

// 44xx close codes mirror the HTTP status so a client can treat both alike
// (RFC 6455 section 7.4.2 leaves 4000-4999 to applications). 1013 and 1011 are
// the registered "try again later" and "internal error" codes.
const RULES: Readonly<Record<WsRefusalReason, RefusalRule>> = {
  missing_credential: { status: 401, closeCode: 4401, code: 'unauthorized', message: 'Unauthorized' },
  invalid_credential: { status: 401, closeCode: 4401, code: 'unauthorized', message: 'Unauthorized' },
  ambiguous_credential: { status: 400, closeCode: 4400, code: 'bad_request', message: 'Bad Request' },
  malformed_request: { status: 400, closeCode: 4400, code: 'bad_request', message: 'Bad Request' },
  origin_not_allowed: { status: 403, closeCode: 4403, code: 'forbidden', message: 'Forbidden' },
  forbidden: { status: 403, closeCode: 4403, code: 'forbidden', message: 'Forbidden' },
  revoked: { status: 403, closeCode: 4403, code: 'forbidden', message: 'Revoked' },
  // A revoked credential presented again: get a new one (log in again), hence 401, not 403.
  credential_revoked: { status: 401, closeCode: 4401, code: 'unauthorized', message: 'Unauthorized' },
  subject_changed: { status: 403, closeCode: 4403, code: 'forbidden', message: 'Forbidden' },
  // A refresh may not turn one kind of identity into another (an API key into a JWT user).
  credential_kind_changed: { status: 403, closeCode: 4403, code: 'forbidden', message: 'Forbidden' },
  authentication_timeout: { status: 408, closeCode: 4408, code: 'timeout', message: 'Authentication Timeout' },
  too_many_pending: { status: 503, closeCode: 1013, code: 'unavailable', message: 'Service Unavailable' },
  // One source over its share; 4429 mirrors the status like the other 44xx codes.
  too_many_requests: { status: 429, closeCode: 4429, code: 'too_many_requests', message: 'Too Many Requests' },
  verification_timeout: { status: 503, closeCode: 1013, code: 'unavailable', message: 'Service Unavailable' },
  unavailable: { status: 503, closeCode: 1013, code: 'unavailable', message: 'Service Unavailable' },
  internal_error: { status: 500, closeCode: 1011, code: 'internal_error', message: 'Internal Server Error' },
};

// A frozen Error (a hardened runtime) keeps its limit: refusals then carry a stack as before.
const STACK_LIMIT_WRITABLE = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')?.writable === true;

/**
 * A typed refusal. Throw it from `validate()` or a custom authenticator to choose the
 * answer precisely; its message is fixed per reason, so nothing from the request is echoed.
 */
export class WsRefusal extends Error {
  readonly status: number;
  readonly closeCode: number;
  readonly code: RefusalRule['code'];

  constructor(readonly reason: WsRefusalReason) {
    const rule = RULES[reason];
    // A refusal is an answer, not a bug: capturing a stack trace cost more than the rest of a
    // refused handshake's bookkeeping, and nothing reads it. `stack` is still the name and message.
    const limit = Error.stackTraceLimit;
    if (STACK_LIMIT_WRITABLE) Error.stackTraceLimit = 0;
    super(rule.message);
    if (STACK_LIMIT_WRITABLE) Error.stackTraceLimit = limit;
    this.name = 'WsRefusal';
    this.status = rule.status;
    this.closeCode = rule.closeCode;
    this.code = rule.code;
  }

  /** The fixed JSON body sent with a refused upgrade. */
  toBody(): string {
    return JSON.stringify({ error: this.code, reason: this.reason });
  }
}
