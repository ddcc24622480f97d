import type { WebSocket } from 'ws';

const ANONYMOUS = '';

/** Open authenticated sockets by subject, across every gateway of the app. */
export class ConnectionRegistry {
  private readonly bySubject = new Map<string, Set<WebSocket>>();
  private total = 0;

  add(socket: WebSocket, subject: string | undefined): void {
    const key = subject ?? ANONYMOUS;
    let sockets = this.bySubject.get(key);
    if (!sockets) this.bySubject.set(key, (sockets = new Set()));
    if (!sockets.has(socket)) {
      sockets.add(socket);
      this.total++;
    }
  }

  remove(socket: WebSocket, subject: string | undefined): void {
    const key = subject ?? ANONYMOUS;
    const sockets = this.bySubject.get(key);
    if (!sockets?.delete(socket)) return;
    this.total--;
    if (sockets.size === 0) this.bySubject.delete(key);
  }

  of(subject: string): ReadonlySet<WebSocket> {
    return this.bySubject.get(subject) ?? new Set();
  }

  *all(): Iterable<WebSocket> {
    for (const sockets of this.bySubject.values()) yield* sockets;
  }

  get size(): number {
    return this.total;
  }
}
