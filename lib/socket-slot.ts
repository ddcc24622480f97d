/**
 * A value kept on a socket under a private, non-enumerable symbol instead of in a WeakMap: no
 * hash-table insert per connection, a plain property load per read, and logging the socket
 * shows nothing of it.
 */
export class SocketSlot<T> {
  private readonly key: symbol;

  constructor(description: string) {
    this.key = Symbol(description);
  }

  get(socket: object): T | undefined {
    return (socket as Record<symbol, T | undefined>)[this.key];
  }

  /** Whether `object` itself holds the slot (not through its prototype). */
  isOn(object: object): boolean {
    return Object.hasOwn(object, this.key);
  }

  set(socket: object, value: T | undefined): void {
    if (Object.hasOwn(socket, this.key)) (socket as Record<symbol, T | undefined>)[this.key] = value;
    else Object.defineProperty(socket, this.key, { value, writable: true, configurable: true });
  }

  /** Overwritten, not deleted: a delete would turn every socket's shape into a slow dictionary. */
  clear(socket: object): void {
    if (Object.hasOwn(socket, this.key)) (socket as Record<symbol, T | undefined>)[this.key] = undefined;
  }
}
