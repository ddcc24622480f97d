import { UseGuards } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { WsRolesGuard, type WsAuthGatewayMetadata } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { ChatHandlers } from './chat-handlers.js';

/** Upgrades without credentials; the client sends `authenticate` first (in-band). */
@WebSocketGateway<WsAuthGatewayMetadata>({ path: '/live', wsAuth: { mode: 'in-band' } })
@UseGuards(WsRolesGuard)
export class LiveGateway extends ChatHandlers {}
