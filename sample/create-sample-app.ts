import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { LoggerService } from '@nestjs/common';
import { WsAuthAdapter } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AppModule } from './app.module.js';
import type { SampleConfig } from './sample.config.js';

export async function createSampleApp(config: SampleConfig, logger?: LoggerService): Promise<NestExpressApplication> {
  const { tls } = config;
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(config), {
    logger: logger ?? ['log', 'warn', 'error'],
    // With a CA, TLS asks for a client certificate but leaves the decision to the upgrade, so
    // browsers without one still log in and use tokens.
    httpsOptions: tls && { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: Boolean(tls.ca), rejectUnauthorized: false },
  });
  app.useWebSocketAdapter(new WsAuthAdapter(app));
  app.enableShutdownHooks();
  return app;
}
