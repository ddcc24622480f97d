import type { NestExpressApplication } from '@nestjs/platform-express';
import { createSampleApp } from '../../sample/create-sample-app.js';
import type { SampleConfig } from '../../sample/sample.config.js';
import { freePort } from './free-port.js';
import { LogCapture } from './log-capture.js';

export const SAMPLE_TEST_SECRET = 'sample-test-secret-0123456789-0123456789';

export interface RunningSample {
  /** The sample's Nest app, for tests that call its providers (WsConnections) directly. */
  app: NestExpressApplication;
  config: SampleConfig;
  logs: LogCapture;
  http(path: string): string;
  ws(path: string): string;
  origin: string;
  login(username: string, password?: string): Promise<string>;
  close(): Promise<void>;
}

/** The sample app as `npm start` runs it, on a free port, with its log captured. */
export async function startSample(overrides: Partial<SampleConfig> = {}): Promise<RunningSample> {
  const config: SampleConfig = {
    port: await freePort(),
    host: '127.0.0.1',
    jwtSecret: SAMPLE_TEST_SECRET,
    accessTokenTtlSeconds: 900,
    authTimeoutMs: 5000,
    expiryWarningMs: 60_000,
    ...overrides,
  };
  const logs = new LogCapture();
  const app = await createSampleApp(config, logs);
  await app.listen(config.port, config.host);
  const secure = Boolean(config.tls);
  const origin = `${secure ? 'https' : 'http'}://${config.host}:${config.port}`;
  return {
    app,
    config,
    logs,
    origin,
    http: (path) => `${origin}${path}`,
    ws: (path) => `${secure ? 'wss' : 'ws'}://${config.host}:${config.port}${path}`,
    async login(username, password = username) {
      const response = await fetch(`${origin}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      });
      if (response.status !== 200) throw new Error(`login ${username}: ${response.status}`);
      return ((await response.json()) as { access_token: string }).access_token;
    },
    close: () => app.close(),
  };
}
