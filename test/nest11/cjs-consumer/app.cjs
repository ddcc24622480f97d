// A CommonJS Nest 11 app, as a user without TypeScript or ESM would write it: decorators are
// applied as plain functions, and the ESM package is loaded with require() (Node >= 20.19).
// Run by cjs-consumer.test.cjs in a process of its own, with no resolution hook.
'use strict';
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { ConnectedSocket, SubscribeMessage, WebSocketGateway } = require('@nestjs/websockets');
const { WsAuthAdapter, WsAuthModule, WsUser, getWsUser } = require('nestjs-ws-auth');

class ChatGateway {
  whoami(user, client) {
    return { event: 'whoami', data: { user, sameAsGetter: getWsUser(client) === user } };
  }
}
WsUser()(ChatGateway.prototype, 'whoami', 0);
ConnectedSocket()(ChatGateway.prototype, 'whoami', 1);
SubscribeMessage('whoami')(ChatGateway.prototype, 'whoami', Object.getOwnPropertyDescriptor(ChatGateway.prototype, 'whoami'));
WebSocketGateway({ path: '/chat' })(ChatGateway);

class AppModule {}
Module({
  imports: [WsAuthModule.forRoot({ jwt: { secret: process.env.CJS_CONSUMER_SECRET } })],
  providers: [ChatGateway],
})(AppModule);

async function main() {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  app.useWebSocketAdapter(new WsAuthAdapter(app));
  await app.listen(0, '127.0.0.1');
  process.send({
    port: app.getHttpServer().address().port,
    nestVersion: require('@nestjs/core/package.json').version,
    packageEntry: require.resolve('nestjs-ws-auth'),
    // The package's own imports must land on this app's Nest, or DI sees two worlds.
    sharesNest: Object.getPrototypeOf(WsAuthAdapter) === require('@nestjs/platform-ws').WsAdapter,
  });
  process.once('message', async () => {
    await app.close();
    process.disconnect();
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
