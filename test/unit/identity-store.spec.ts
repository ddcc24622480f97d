import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { getWsIdentity, getWsUser } from '../../lib/index.js';
import { attachIdentity } from '../../lib/identity/identity-store.js';
import type { WsIdentity } from '../../lib/identity/ws-identity.js';

describe('getWsIdentity / getWsUser: read or forged by app code', () => {
  const identity: WsIdentity<{ name: string }> = {
    user: { name: 'store-user' },
    subject: 'store-subject',
    roles: ['admin'],
    claims: { sub: 'store-subject', secret: 'store-claim-marker' },
    source: 'header',
  };

  it('answers the socket that holds it, and nothing made from, around or copied off that socket', () => {
    const socket = new EventEmitter();
    attachIdentity(socket, identity);
    assert.equal(getWsIdentity(socket), identity);
    assert.equal(getWsUser<{ name: string }>(socket)?.name, 'store-user');
    const proxied = new Proxy(socket, { get: (target, name) => Reflect.get(target, name), has: () => true, getPrototypeOf: () => socket });
    const bound = Object.create(socket) as object;
    const reflected = Object.setPrototypeOf({}, socket) as object;
    for (const [what, other] of [
      ['Object.create(socket)', bound],
      ['setPrototypeOf({}, socket)', reflected],
      ['a Proxy that says it has everything', proxied],
      ['a plain copy', { ...socket }],
      ['Object.assign', Object.assign(new EventEmitter(), socket)],
      ['a frozen copy', Object.freeze({ ...socket })],
    ] as const) {
      assert.equal(getWsIdentity(other), undefined, what);
      assert.equal(getWsUser(other), undefined, what);
    }
  });

  it('answers undefined for primitives, null, undefined and functions, and never throws', () => {
    for (const value of [null, undefined, 0, 1, '', 'socket', true, Symbol('s'), 10n, () => undefined, class Socket extends EventEmitter {}]) {
      assert.equal(getWsIdentity(value as never), undefined, String(typeof value));
      assert.equal(getWsUser(value as never), undefined, String(typeof value));
    }
  });

  it('a socket frozen once its identity is attached still answers it, and only it', () => {
    // Frozen before, a socket could not take the identity: private fields obey extensibility
    // (TC39 "non-extensible applies to private"), as defineProperty did.
    const socket = new EventEmitter();
    attachIdentity(socket, identity);
    Object.freeze(socket);
    assert.equal(getWsIdentity(socket), identity);
    assert.equal(getWsIdentity(Object.create(socket)), undefined);
  });
});
