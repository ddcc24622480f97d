import { NestFactory } from '@nestjs/core';
import type { INestApplication, NestApplicationOptions } from '@nestjs/common';
import { WsAuthAdapter } from '../../lib/index.js';
import { LogCapture } from './log-capture.js';

export interface TestApp {
  app: INestApplication;
  port: number;
  logs: LogCapture;
  url(path: string): string;
  close(): Promise<void>;
}

/** Boots a real Nest app with WsAuthAdapter on an ephemeral loopback port. */
export async function startTestApp(module: any, options: { adapter?: boolean; httpsOptions?: NestApplicationOptions['httpsOptions'] } = {}): Promise<TestApp> {
  const logs = new LogCapture();
  const app = await NestFactory.create(module, { logger: logs, abortOnError: false, httpsOptions: options.httpsOptions });
  if (options.adapter !== false) app.useWebSocketAdapter(new WsAuthAdapter(app));
  try {
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    app,
    port,
    logs,
    url: (path) => `${options.httpsOptions ? 'wss' : 'ws'}://127.0.0.1:${port}${path}`,
    close: () => app.close(),
  };
}
