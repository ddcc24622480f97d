import { connect, type Socket } from 'node:net';
import { upgradeRequest } from './raw-upgrade.js';

/**
 * A WebSocket spoken by hand over TCP, for what no client library sends: a frame announced
 * larger than it is, delivered a slice at a time.
 */
export class RawWebSocket {
  private buffered = Buffer.alloc(0);
  private readonly closeFrame: Promise<{ code: number; reason: string; at: number } | undefined>;

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

  static open(port: number, path: string): Promise<RawWebSocket> {
    return new Promise((resolve, reject) => {
      const tcp = connect(port, '127.0.0.1');
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
      tcp.write(upgradeRequest(path));
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

  /** The server's close frame, or undefined when TCP closed without one. */
  closed(): Promise<{ code: number; reason: string; at: number } | undefined> {
    return this.closeFrame;
  }

  destroy(): void {
    this.tcp.destroy();
  }
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
