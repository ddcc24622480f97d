import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { getWsUser } from './identity-store.js';

/**
 * The authenticated user of the socket a message came on: `@WsUser()` for the whole
 * user, `@WsUser('username')` for one property.
 */
export const WsUser = createParamDecorator((property: string | undefined, context: ExecutionContext) => {
  const user = getWsUser<Record<string, unknown>>(context.switchToWs().getClient());
  return property === undefined ? user : user?.[property];
});
