import { request as httpRequest } from 'node:http';
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
  /** A POST over plain HTTP that can leave from another loopback address (127.0.0.2). */
  post(path: string, options?: SamplePostOptions): Promise<SampleResponse>;
  close(): Promise<void>;
}

export interface SamplePostOptions {
  headers?: Record<string, string>;
  json?: unknown;
  localAddress?: string;
}

export interface SampleResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Each Set-Cookie header, in order. */
  cookies: string[];
  body: string;
  json(): any;
}

/** The value of the cookie `name` among Set-Cookie headers (undefined when not set). */
export function cookieValue(cookies: string[], name: string): string | undefined {
  const found = cookies.find((cookie) => cookie.startsWith(`${name}=`));
  return found?.slice(name.length + 1).split(';')[0];
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
    post: (path, options = {}) => post(config.host, config.port, path, options),
    close: () => app.close(),
  };
}

function post(host: string, port: number, path: string, { headers = {}, json, localAddress }: SamplePostOptions): Promise<SampleResponse> {
  const payload = json === undefined ? undefined : JSON.stringify(json);
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host,
        port,
        path,
        method: 'POST',
        localAddress,
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), 'content-length': String(Buffer.byteLength(payload ?? '')), ...headers },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            cookies: response.headers['set-cookie'] ?? [],
            body,
            json: () => JSON.parse(body),
          }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}
