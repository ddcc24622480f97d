import { SetMetadata } from '@nestjs/common';
import { WS_ROLES_KEY } from '../ws-auth.constants.js';

/** Roles allowed to call a handler (any one of them); a handler's list overrides its class's. */
export const Roles = (...roles: string[]) => SetMetadata(WS_ROLES_KEY, roles);
