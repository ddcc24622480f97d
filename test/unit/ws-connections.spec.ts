import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalConnectionBus, WsConnections, type WsDisconnectCommand } from '../../lib/index.js';

describe('WsConnections.disconnect', () => {
  it('refuses an empty subject, under which every connection without a subject is filed', async () => {
    const bus = new LocalConnectionBus();
    const published: WsDisconnectCommand[] = [];
    await bus.subscribe((command) => published.push(command));
    const connections = new WsConnections(bus);
    await assert.rejects(connections.disconnect(''), TypeError);
    await assert.rejects(connections.disconnect(undefined as unknown as string), TypeError);
    assert.deepEqual(published, []);
  });
});
