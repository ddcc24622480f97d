import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PendingAuthentications, sourceOf } from '../../lib/connections/pending-authentications.js';
import { WsRefusal } from '../../lib/refusals/ws-refusal.js';

const refusedWith = (reason: string) => (error: unknown) => error instanceof WsRefusal && error.reason === reason;

describe('PendingAuthentications', () => {
  it('holds an IPv6 client to its /64, however many addresses of it the sockets come from', () => {
    const pending = new PendingAuthentications();
    for (let host = 1; host <= 3; host++) pending.add(`2001:db8:1:2::${host.toString(16)}`);
    assert.throws(() => pending.assertRoom('2001:db8:1:2:ffff:0:0:9', 1000, 3), refusedWith('too_many_requests'));
    // Another /64 still gets in.
    assert.doesNotThrow(() => pending.assertRoom('2001:db8:1:3::1', 1000, 3));
  });

  it('counts an IPv4-mapped address as the IPv4 address, and frees the slot again', () => {
    const pending = new PendingAuthentications();
    pending.add('::ffff:192.0.2.7');
    assert.throws(() => pending.assertRoom('192.0.2.7', 1000, 1), refusedWith('too_many_requests'));
    pending.remove('192.0.2.7');
    assert.doesNotThrow(() => pending.assertRoom('::ffff:192.0.2.7', 1000, 1));
  });

  it('refuses past the global bound with 503 once every source is under its own', () => {
    const pending = new PendingAuthentications();
    pending.add('192.0.2.1');
    pending.add('192.0.2.2');
    assert.throws(() => pending.assertRoom('192.0.2.3', 2, 32), refusedWith('too_many_pending'));
  });
});

describe('sourceOf', () => {
  it('spells every form of one /64 the same way', () => {
    const forms = [
      '2001:db8:0:1::5',
      '2001:0db8:0000:0001:0000:0000:0000:0005',
      '2001:DB8:0:1:aaaa:bbbb:cccc:dddd',
      'fe80::1%eth0'.replace('fe80::', '2001:db8:0:1::'),
    ];
    for (const form of forms) assert.equal(sourceOf(form), '2001:db8:0:1::/64', form);
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
    assert.equal(sourceOf('127.0.0.1'), '127.0.0.1');
    assert.equal(sourceOf(undefined), '');
  });
});
