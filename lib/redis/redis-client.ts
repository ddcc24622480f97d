/**
 * What the three Redis users (ticket store, revocation store, connection bus) share: loading the
 * optional `redis` package, the client's reconnect policy, error names safe to log, and a bound
 * on a command.
 */

/**
 * Loads the official `redis` client (an optional peer dependency, loaded only by apps that
 * choose Redis) and creates a client that reconnects by itself with capped backoff.
 * `queueWhileOffline: false` makes commands fail at once while disconnected instead of waiting
 * in an unbounded queue past every deadline.
 */
export async function createRedisClient<Client>(
  owner: string,
  url: string,
  { queueWhileOffline = false, connectTimeoutMs = 2000 }: { queueWhileOffline?: boolean; connectTimeoutMs?: number } = {},
): Promise<Client> {
  let redis: { createClient(options: object): Client };
  try {
    redis = (await import('redis' as string)) as typeof redis;
  } catch {
    throw new Error(`${owner}: install the "redis" package.`);
  }
  return redis.createClient({
    url,
    disableOfflineQueue: !queueWhileOffline,
    socket: { connectTimeout: connectTimeoutMs, reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) },
  });
}

/** An error's code or class, never its message: node-redis messages can quote the URL. */
export function redisErrorName(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  // node-redis's own errors keep the name 'Error'; their class says what happened.
  return (error as NodeJS.ErrnoException).code ?? (error.name === 'Error' ? error.constructor.name : error.name);
}

/** `promise`, or a TimeoutError once `ms` has passed: Redis that accepts but never answers. */
export function withRedisDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('Redis did not answer in time'), { name: 'TimeoutError' })), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
