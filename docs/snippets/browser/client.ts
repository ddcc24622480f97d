// README: The client helper.
declare const api: { post(path: string): Promise<{ ticket: string }> };
declare const auth: { freshAccessToken(): Promise<string> };
declare function render(from: string, text: string): void;
declare function showLogin(reason: string): void;

// #region client
import { WsAuthClient } from 'nestjs-ws-auth/client';

// What the server sends (for on()), then what the client sends (for send()).
const client = new WsAuthClient<{ chat: { from: string; text: string } }, { subscribe: { room: string } }>({
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
client.on('unsubscribed', ({ topic, reason }) => console.log(`left ${topic}: ${reason}`)); // expired, forbidden
client.connect();
// #endregion

// The types hold in both directions (checked by tsc with the README's snippets).
// @ts-expect-error: chat is a server event, not one the client sends
client.send('chat', { from: 'me', text: 'hi' });
// @ts-expect-error: subscribe takes a room
client.send('subscribe', { topic: 'general' });
// @ts-expect-error: an unsubscribed event has no text
client.on('unsubscribed', ({ text }) => text);
