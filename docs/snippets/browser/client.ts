// README: The client helper.
declare const api: { post(path: string): Promise<{ ticket: string }> };
declare const auth: { freshAccessToken(): Promise<string> };
declare function render(from: string, text: string): void;
declare function showLogin(reason: string): void;

// #region client
import { WsAuthClient } from 'nestjs-ws-auth/client';

const client = new WsAuthClient<{ chat: { from: string; text: string }; subscribe: { room: string } }>({
  url: 'wss://app.example.com/chat',
  credential: { mode: 'ticket', fetchTicket: async () => (await api.post('/auth/ws-ticket')).ticket },
  // or { mode: 'subprotocol', protocol: 'chat.v1' } | { mode: 'cookie' } | { mode: 'in-band' }
  //    | { mode: 'header' } (Node: Authorization on the upgrade; pass WebSocket from 'ws')
  getToken: () => auth.freshAccessToken(), // refresh on token_expiring; subprotocol, header, in-band
  onReconnect: () => client.send('subscribe', { room: 'general' }),
});
client.on('state', (state) => console.log(state)); // connecting, authenticating, open, reconnecting, stopped
client.on('chat', ({ from, text }) => render(from, text));
client.on('stopped', ({ code, reason }) => showLogin(reason)); // 4403 or close()
client.connect();
// #endregion
