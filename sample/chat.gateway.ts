import { UseGuards } from '@nestjs/common';
import { WebSocketGateway } from '@nestjs/websockets';
import { WsRolesGuard } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { ChatHandlers } from './chat-handlers.js';

/** Authenticated during the upgrade: header, `bearer.<jwt>` subprotocol, cookie or ticket. */
@WebSocketGateway({ path: '/chat' })
@UseGuards(WsRolesGuard)
export class ChatGateway extends ChatHandlers {}
