// A Nest 12 ESM app in plain JavaScript, as a user without TypeScript writes it: decorators are
// applied as functions. `nestjs-ws-auth` resolves from ./node_modules, where test/nest11/run.mjs
// unpacks the packed tarball; Nest 12 from the root node_modules, the first one up the tree.
// Run by esm-consumer.test.mjs in a process of its own, with no resolution hook.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { ConnectedSocket, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WsAuthAdapter, WsAuthModule, WsUser, getWsUser } from 'nestjs-ws-auth';

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
  imports: [WsAuthModule.forRoot({ jwt: { secret: process.env.ESM_CONSUMER_SECRET } })],
  providers: [ChatGateway],
})(AppModule);

// Every level, so whatever the package logs about a refused token reaches the test's leak check.
const app = await NestFactory.create(AppModule, { logger: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'] });
app.useWebSocketAdapter(new WsAuthAdapter(app));
await app.listen(0, '127.0.0.1');
process.send({
  port: app.getHttpServer().address().port,
  nestVersion: createRequire(import.meta.url)('@nestjs/core/package.json').version,
  nestCore: fileURLToPath(import.meta.resolve('@nestjs/core')),
  packageEntry: fileURLToPath(import.meta.resolve('nestjs-ws-auth')),
  // The package's own imports must land on this app's Nest, or DI sees two worlds.
  sharesNest: Object.getPrototypeOf(WsAuthAdapter) === WsAdapter,
});
process.once('message', async () => {
  await app.close();
  process.disconnect();
});
