import { WsException } from '@nestjs/websockets';
import { WsRefusal, type WsRefusalReason } from './ws-refusal.js';

/**
 * What guards throw. Its error is an object, so Nest's filter sends it as it is:
 * `{"event":"exception","data":{"status":"error","message":"Forbidden","code":"forbidden"}}`
 * with no `cause` echoing the client's payload back.
 */
export class WsAuthException extends WsException {
  readonly refusal: WsRefusal;

  constructor(reason: WsRefusalReason) {
    const refusal = new WsRefusal(reason);
    super({ status: 'error', message: refusal.message, code: refusal.code });
    this.refusal = refusal;
  }
}
