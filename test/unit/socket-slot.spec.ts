import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { socketSlot } from '../../lib/socket-slot.js';

const SECRET = { token: 'eyJ.secret-claims.sig' };

describe('socketSlot: a value kept on a socket', () => {
  it('is read back from the socket that holds it, undefined elsewhere, and cleared by overwriting', () => {
    const slot = socketSlot<object>();
    const socket = new EventEmitter();
    assert.equal(slot.get(socket), undefined);
    slot.set(socket, SECRET);
    assert.equal(slot.get(socket), SECRET);
    slot.set(socket, { other: true });
    assert.deepEqual(slot.get(socket), { other: true });
    slot.clear(socket);
    assert.equal(slot.get(socket), undefined);
    // Another slot is another field: neither sees the other's value.
    const second = socketSlot<string>();
    second.set(socket, 'second');
    slot.set(socket, SECRET);
    assert.equal(second.get(socket), 'second');
    assert.equal(slot.get(socket), SECRET);
  });

  it('is not held through a prototype: an object made from a socket is not that socket', () => {
    const slot = socketSlot<object>();
    const socket = new EventEmitter();
    slot.set(socket, SECRET);
    const derived = Object.create(socket) as object;
    assert.equal(slot.get(derived), undefined);
  });

  it('cannot be found, listed or replaced by code outside the library, nor printed by a log of the socket', () => {
    const slot = socketSlot<object>();
    const socket = new EventEmitter();
    const keysBefore = Reflect.ownKeys(socket);
    slot.set(socket, SECRET);
    // A symbol-keyed property would show here, and app code could overwrite it with a forged identity.
    assert.deepEqual(Reflect.ownKeys(socket), keysBefore);
    for (const shown of [inspect(socket, { showHidden: true, depth: 5 }), JSON.stringify(socket)]) {
      assert.doesNotMatch(shown, /secret-claims/);
    }
    // What a copy of the socket's properties carries over is not the slot either.
    assert.equal(slot.get({ ...socket }), undefined);
  });
});
