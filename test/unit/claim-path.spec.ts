import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readClaim, readRoles } from '../../lib/identity/claim-path.js';

describe('readRoles', () => {
  it('reads a top-level array', () => {
    assert.deepEqual(readRoles({ roles: ['user', 'admin'] }, 'roles'), ['user', 'admin']);
  });

  it('reads a nested path such as Keycloak realm_access.roles', () => {
    assert.deepEqual(readRoles({ realm_access: { roles: ['admin'] } }, 'realm_access.roles'), ['admin']);
  });

  it('splits an OAuth scope string on spaces', () => {
    assert.deepEqual(readRoles({ scope: 'read  write admin' }, 'scope'), ['read', 'write', 'admin']);
  });

  it('drops non-string entries and ignores other shapes', () => {
    assert.deepEqual(readRoles({ roles: ['a', 1, null, { x: 1 }, 'b'] }, 'roles'), ['a', 'b']);
    assert.deepEqual(readRoles({ roles: { admin: true } }, 'roles'), []);
    assert.deepEqual(readRoles({}, 'realm_access.roles'), []);
  });

  it('never reads through the prototype chain', () => {
    const claims = JSON.parse('{"__proto__":{"roles":["admin"]}}');
    assert.deepEqual(readRoles(claims, 'roles'), []);
    assert.equal(readClaim({}, 'constructor'), undefined);
    assert.equal(readClaim({ a: {} }, 'a.toString'), undefined);
  });

  it('reads an own __proto__ claim only when asked for it by name', () => {
    const claims = JSON.parse('{"__proto__":{"roles":["admin"]}}');
    assert.deepEqual(readRoles(claims, '__proto__.roles'), ['admin']);
  });
});
