import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { getWsUser } from './identity-store.js';

// Annotated so the published .d.ts names no parameter type of its own: inferred, it spelled out
// Nest 12's `ParameterDecoratorOptions`, which Nest 11's @nestjs/common does not export (TS2694
// for Nest 11 users with skipLibCheck off). This way each app gets its own Nest's signature.
type WsUserDecorator = ReturnType<typeof createParamDecorator<string | undefined>>;

/**
 * The authenticated user of the socket a message came on: `@WsUser()` for the whole
 * user, `@WsUser('username')` for one property.
 */
export const WsUser: WsUserDecorator = createParamDecorator((property: string | undefined, context: ExecutionContext) => {
  const user = getWsUser<Record<string, unknown>>(context.switchToWs().getClient());
  return property === undefined ? user : user?.[property];
});
