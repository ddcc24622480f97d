import type { SocketWitness, WitnessedClose } from './socket-witness.js';

/**
 * How `witness` closed, or a failure once `timeoutMs` has passed with it still open: a server
 * that wrongly keeps a socket open must fail its test at once, not run into the suite timeout.
 */
export async function closedWithin(witness: SocketWitness, timeoutMs = 3000): Promise<WitnessedClose> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      witness.socket.terminate();
      reject(new Error(`socket still open after ${timeoutMs} ms (frames: ${JSON.stringify(witness.frames.map((frame) => frame.text.slice(0, 200)))})`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([witness.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`, or a failure naming `what` once `timeoutMs` has passed without it settling. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** What `promise` gave, or 'timeout' when it has not settled within `ms`: for outcomes a test inspects. */
export function settledWithin<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, ms, 'timeout' as const)));
  return Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    late,
  ]).finally(() => clearTimeout(timer));
}
