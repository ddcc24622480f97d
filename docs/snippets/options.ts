// README: Options (a gateway's own wsAuth).
import { WebSocketGateway } from '@nestjs/websockets';
import type { WsAuthGatewayMetadata } from 'nestjs-ws-auth';

// #region gateway-override
@WebSocketGateway<WsAuthGatewayMetadata>({ path: '/internal', wsAuth: { credentials: ['header'] } })
// #endregion
export class InternalGateway {}
