// README: Live connections: in-band authentication.
import { WebSocketGateway } from '@nestjs/websockets';
import type { WsAuthGatewayMetadata } from 'nestjs-ws-auth';

// #region gateway
@WebSocketGateway<WsAuthGatewayMetadata>({ path: '/live', wsAuth: { mode: 'in-band' } })
// #endregion
export class LiveGateway {}
