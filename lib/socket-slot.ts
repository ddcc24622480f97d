/** A value the library keeps on a socket (session, identity, message bindings). */
export interface SocketSlot<T> {
  /** The value `socket` itself holds; never one read through its prototype. */
  get(socket: object): T | undefined;
  /**
   * A socket made non-extensible before its first value may refuse it with a TypeError, as
   * defineProperty did: engines that apply extensibility to private fields (a TC39 proposal) will.
   */
  set(socket: object, value: T | undefined): void;
  clear(socket: object): void;
}

/** Hands back the object it is given, so a subclass's private fields are added to that object. */
class OntoGiven {
  constructor(object: object) {
    return object;
  }
}

/**
 * A slot kept in a private field added to the socket itself, instead of in a WeakMap (a
 * hash-table insert per connection, ~1-2 us per handshake) or under a symbol (a
 * non-enumerable symbol property needs Object.defineProperty, ~0.17 us each in-process and
 * three per connection). Adding a private field costs what adding a property does; no code
 * outside this function can read, list or overwrite it (not util.inspect, not
 * Object.getOwnPropertySymbols), and an object whose prototype holds it does not hold it.
 */
export function socketSlot<T>(): SocketSlot<T> {
  // Each evaluation of a class declares a new private name: one per slot.
  class Slot extends OntoGiven {
    #value: T | undefined;

    constructor(socket: object, value: T | undefined) {
      super(socket);
      this.#value = value;
    }

    static has(object: object): object is Slot {
      return #value in object;
    }

    static read(slot: Slot): T | undefined {
      return slot.#value;
    }

    static write(slot: Slot, value: T | undefined): void {
      slot.#value = value;
    }
  }
  return {
    get: (socket) => (Slot.has(socket) ? Slot.read(socket) : undefined),
    set: (socket, value) => {
      if (Slot.has(socket)) Slot.write(socket, value);
      else new Slot(socket, value);
    },
    // Overwritten, not removed: a private field cannot be deleted, and sockets keep one shape.
    clear: (socket) => {
      if (Slot.has(socket)) Slot.write(socket, undefined);
    },
  };
}
