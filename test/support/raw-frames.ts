import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { upgradeRequest } from './raw-upgrade.js';

export interface RawOpenOptions {
  /** Extra upgrade headers, such as Authorization. */
  headers?: Array<[string, string]>;
  /** The loopback address to connect from (Linux routes all of 127/8 to lo). */
  localAddress?: string;
}

/**
 * A WebSocket spoken by hand over TCP, for what no client library sends: a frame announced
 * larger than it is, delivered a slice at a time.
 */
export class RawWebSocket {
  private buffered = Buffer.alloc(0);
  private readonly closeFrame: Promise<{ code: number; reason: string; at: number } | undefined>;
  /** When TCP closed (by either side), as Date.now(). */
  private readonly tcpEnd = new Promise<number>((resolve) => this.tcp.once('close', () => resolve(Date.now())));

  private constructor(readonly tcp: Socket) {
    this.closeFrame = new Promise((resolve) => {
      tcp.on('data', (chunk) => {
        this.buffered = Buffer.concat([this.buffered, chunk]);
        const close = readCloseFrame(this.buffered);
        if (close) resolve({ ...close, at: Date.now() });
      });
      tcp.on('close', () => resolve(undefined));
    });
  }

  static open(port: number, path: string, options: RawOpenOptions = {}): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const tcp = connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
      tcp.on('error', () => undefined);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end === -1) return;
        tcp.off('data', onData);
        const status = head.subarray(0, 12).toString('latin1');
        if (status !== 'HTTP/1.1 101') {
          tcp.destroy();
          return reject(new Error(`not upgraded: ${head.toString('latin1').slice(0, 200)}`));
        }
        const socket = new RawWebSocket(tcp);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) tcp.unshift(rest);
        resolve(socket);
      };
      tcp.on('data', onData);
      tcp.write(upgradeRequest(path, options.headers));
    });
  }

  /**
   * Starts a masked text frame that announces `announced` payload bytes. With a zero mask
   * key the payload goes out as it is.
   */
  startTextFrame(announced: number): void {
    const header = Buffer.alloc(14);
    header[0] = 0x81;
    header[1] = 0x80 | 127;
    header.writeBigUInt64BE(BigInt(announced), 2);
    this.tcp.write(header);
  }

  writePayload(bytes: Buffer): boolean {
    return this.tcp.write(bytes);
  }

  /**
   * Sends one complete masked frame (RFC 6455 section 5.3: every client frame is masked),
   * text by default. The payload goes out as given, valid UTF-8 or not.
   */
  sendFrame(payload: string | Buffer, opcode = 0x1): boolean {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const length = body.length;
    const header = length < 126 ? Buffer.alloc(2) : length < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    if (length < 126) header[1] = 0x80 | length;
    else if (length < 65536) {
      header[1] = 0x80 | 126;
      header.writeUInt16BE(length, 2);
    } else {
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(BigInt(length), 2);
    }
    const mask = randomBytes(4);
    const masked = Buffer.alloc(length);
    for (let i = 0; i < length; i++) masked[i] = body[i] ^ mask[i & 3];
    if (this.tcp.destroyed) return false;
    return this.tcp.write(Buffer.concat([header, mask, masked]));
  }

  /** A Nest-style `{"event","data"}` text frame. */
  sendEvent(event: string, data?: unknown): boolean {
    return this.sendFrame(JSON.stringify({ event, data }));
  }

  /** The text frames the server sent so far, in order (close frames excluded). */
  texts(): string[] {
    return readFrames(this.buffered)
      .filter((frame) => frame.opcode === 0x1)
      .map((frame) => frame.payload.toString());
  }

  /** Resolves with when TCP closed, by either side. */
  tcpClosed(): Promise<number> {
    return this.tcpEnd;
  }

  /** The server's close frame, or undefined when TCP closed without one. */
  closed(): Promise<{ code: number; reason: string; at: number } | undefined> {
    return this.closeFrame;
  }

  destroy(): void {
    this.tcp.destroy();
  }
}

// Server frames are unmasked; the complete ones at the start of `data`.
function readFrames(data: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const frames: Array<{ opcode: number; payload: Buffer }> = [];
  let offset = 0;
  while (offset + 2 <= data.length) {
    const opcode = data[offset] & 0x0f;
    let length = data[offset + 1] & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      if (start + 2 > data.length) break;
      length = data.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (start + 8 > data.length) break;
      length = Number(data.readBigUInt64BE(start));
      start += 8;
    }
    if (start + length > data.length) break;
    frames.push({ opcode, payload: data.subarray(start, start + length) });
    offset = start + length;
  }
  return frames;
}

// Server frames are unmasked; a close frame's payload is a 2-byte code then the reason.
function readCloseFrame(data: Buffer): { code: number; reason: string } | undefined {
  let offset = 0;
  while (offset + 2 <= data.length) {
    const opcode = data[offset] & 0x0f;
    let length = data[offset + 1] & 0x7f;
    let start = offset + 2;
    if (length === 126) {
      if (start + 2 > data.length) return undefined;
      length = data.readUInt16BE(start);
      start += 2;
    } else if (length === 127) {
      if (start + 8 > data.length) return undefined;
      length = Number(data.readBigUInt64BE(start));
      start += 8;
    }
    if (start + length > data.length) return undefined;
    if (opcode === 0x8) {
      const payload = data.subarray(start, start + length);
      return { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString() };
    }
    offset = start + length;
  }
  return undefined;
}
