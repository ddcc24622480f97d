import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { LoggerService } from '@nestjs/common';
import { WsAuthAdapter } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AppModule } from './app.module.js';
import type { SampleConfig } from './sample.config.js';

export async function createSampleApp(config: SampleConfig, logger?: LoggerService): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(config), {
    logger: logger ?? ['log', 'warn', 'error'],
  });
  app.useWebSocketAdapter(new WsAuthAdapter(app));
  app.enableShutdownHooks();
  return app;
}
