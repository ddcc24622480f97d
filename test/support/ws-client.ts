import WebSocket from 'ws';

export type Outcome =
  | { kind: 'open'; socket: WebSocket; protocol: string }
  | { kind: 'refused'; status: number; headers: Record<string, string | string[] | undefined>; body: string }
  | { kind: 'error'; message: string };

/** Opens a real `ws` client and reports whether the server upgraded or refused it. */
export function openSocket(
  url: string,
  options: { headers?: Record<string, string>; protocols?: string[]; tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer } } = {},
): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, options.protocols ?? [], { headers: options.headers, ...options.tls });
    socket.once('open', () => resolve({ kind: 'open', socket, protocol: socket.protocol }));
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ kind: 'refused', status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    socket.once('error', (error) => resolve({ kind: 'error', message: error.message }));
  });
}

export async function openOrFail(url: string, options: Parameters<typeof openSocket>[1] = {}): Promise<WebSocket> {
  const outcome = await openSocket(url, options);
  if (outcome.kind !== 'open') throw new Error(`expected an open socket, got ${JSON.stringify(outcome)}`);
  return outcome.socket;
}

/** Waits for the next JSON frame whose event matches (or any, when omitted). */
export function nextEvent(socket: WebSocket, event?: string, timeoutMs = 3000): Promise<{ event: string; data: any }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error(`no "${event ?? 'any'}" event within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (raw: WebSocket.RawData) => {
      let frame: { event: string; data: unknown };
      try {
        frame = JSON.parse(raw.toString());
      } catch {
        return;
      }
      if (event && frame.event !== event) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(frame as { event: string; data: any });
    };
    socket.on('message', onMessage);
  });
}

export function request(socket: WebSocket, event: string, data?: unknown, reply = event) {
  const answer = nextEvent(socket, reply);
  socket.send(JSON.stringify({ event, data }));
  return answer;
}

export function closed(socket: WebSocket): Promise<{ code: number; reason: string }> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '' });
  return new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}
