import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { LoggerService } from '@nestjs/common';
import { WsAuthAdapter } from '../lib/index.js'; // in your app: 'nestjs-ws-auth'
import { AppModule } from './app.module.js';
import type { SampleConfig } from './sample.config.js';
import { sampleMetrics } from './sample-metrics.js';

export async function createSampleApp(config: SampleConfig, logger?: LoggerService): Promise<NestExpressApplication> {
  const { tls } = config;
  // Before the app exists: the library takes its meter from the global provider as the app starts.
  const metrics = sampleMetrics();
  const app = await NestFactory.create<NestExpressApplication>(AppModule.register(config, metrics), {
    logger: logger ?? ['log', 'warn', 'error'],
    // With a CA, TLS asks for a client certificate but leaves the decision to the upgrade, so
    // browsers without one still log in and use tokens.
    httpsOptions: tls && { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: Boolean(tls.ca), rejectUnauthorized: false },
  });
  app.useWebSocketAdapter(new WsAuthAdapter(app));
  app.enableShutdownHooks();
  return app;
}
