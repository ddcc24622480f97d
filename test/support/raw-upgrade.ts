import { connect } from 'node:net';

export interface RawResponse {
  /** Everything the server wrote, as text. */
  raw: string;
  status: number | undefined;
  headers: Record<string, string>;
  body: string;
  /** True when the server closed the connection without writing anything. */
  silent: boolean;
}

/**
 * Sends a hand-written upgrade request, so tests can send what no WebSocket client would:
 * duplicate headers, thousands of headers, a missing Host, odd Origins.
 */
export function rawUpgrade(port: number, request: string, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      // A 101 keeps the socket open; the head is all a test needs.
      if (Buffer.concat(chunks).toString('latin1').startsWith('HTTP/1.1 101')) socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks).toString('latin1')));
    });
    socket.write(request);
  });
}

export function upgradeRequest(path: string, headers: Array<[string, string]> = [], host = '127.0.0.1'): string {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: ${host}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    ...headers.map(([name, value]) => `${name}: ${value}`),
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end === -1 ? raw : raw.slice(0, end);
  const [statusLine, ...headerLines] = head.split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1];
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    raw,
    status: status ? Number(status) : undefined,
    headers,
    body: end === -1 ? '' : raw.slice(end + 4),
    silent: raw.length === 0,
  };
}
