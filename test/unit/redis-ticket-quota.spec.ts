import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { Logger } from '@nestjs/common';
import { RedisTicketStore, type RedisTicketClient } from '../../lib/index.js';

/** Records every call; `sendCommand` only when asked for, as an app's own client may lack it. */
function fakeClient(withSendCommand: boolean) {
  const calls: Array<{ method: string; args: unknown[] }> = [];
  const client: RedisTicketClient = {
    async set(...args) {
      calls.push({ method: 'set', args });
      return 'OK';
    },
    async getDel(...args) {
      calls.push({ method: 'getDel', args });
      return null;
    },
  };
  if (withSendCommand) {
    client.sendCommand = async (args) => {
      calls.push({ method: 'sendCommand', args });
      return 1;
    };
  }
  return { client, calls };
}

const KEY = 'k'.repeat(43);

describe('RedisTicketStore per-subject cap', () => {
  it('puts through one script with the subject hashed in the key name', async () => {
    const { client, calls } = fakeClient(true);
    const store = new RedisTicketStore({ client, keyPrefix: 'p:' });
    await store.put(KEY, 'value', 1500.2, { subject: 'alice@example.com', max: 10 });
    assert.equal(calls.length, 1);
    const [command, , numberOfKeys, ticketKey, indexKey, value, px, max, member, prefix] = calls[0]!.args as string[];
    assert.equal(command, 'EVAL');
    assert.equal(numberOfKeys, '2');
    assert.equal(ticketKey, `p:${KEY}`);
    assert.match(indexKey!, /^p:subject:[A-Za-z0-9_-]{43}$/);
    assert.ok(!indexKey!.includes('alice'));
    assert.deepEqual([value, px, max, member, prefix], ['value', '1501', '10', KEY, 'p:']);
  });

  it('uses SET without an owner', async () => {
    const { client, calls } = fakeClient(true);
    await new RedisTicketStore({ client }).put(KEY, 'value', 1000);
    assert.deepEqual(
      calls.map((call) => call.method),
      ['set'],
    );
  });

  it('degrades to no cap, with one warning, when the client has no sendCommand', async () => {
    const warn = mock.method(Logger.prototype, 'warn', () => undefined);
    try {
      const { client, calls } = fakeClient(false);
      const store = new RedisTicketStore({ client });
      await store.put(KEY, 'one', 1000, { subject: 'alice', max: 1 });
      await store.put(KEY.replace('k', 'j'), 'two', 1000, { subject: 'alice', max: 1 });
      assert.deepEqual(
        calls.map((call) => call.method),
        ['set', 'set'],
      );
      assert.equal(warn.mock.callCount(), 1);
      assert.match(String(warn.mock.calls[0]!.arguments[0]), /not capped per subject/);
    } finally {
      warn.mock.restore();
    }
  });
});
