import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WsRefusal } from '../../lib/index.js';
import { RevocationList } from '../../lib/revocations/revocation-list.js';
import { authMetrics } from '../../lib/telemetry/auth-metrics.js';
import { gatewayLabel, GatewayTelemetry } from '../../lib/telemetry/gateway-telemetry.js';
import { WsAuthEvents } from '../../lib/telemetry/ws-auth-events.service.js';

describe('gatewayLabel', () => {
  it('is the path on the app server, and :port plus the path on a port of its own', () => {
    assert.equal(gatewayLabel(0, '/chat'), '/chat');
    assert.equal(gatewayLabel(0, 'chat/'), '/chat');
    assert.equal(gatewayLabel(0, undefined), '/');
    assert.equal(gatewayLabel(8081, '/side'), ':8081/side');
    assert.equal(gatewayLabel(8081, undefined), ':8081/');
  });
});

describe('GatewayTelemetry without an SDK or a subscriber', () => {
  it('reads no clock and builds no event', async () => {
    await authMetrics.load();
    assert.equal(authMetrics.enabled, false);
    const events = new WsAuthEvents();
    const telemetry = new GatewayTelemetry('/chat', events);
    assert.equal(telemetry.upgradeStarted(), 0);
    const emitted: unknown[] = [];
    const emit = events.emit.bind(events);
    events.emit = (event) => {
      emitted.push(event);
      emit(event);
    };
    const request = {
      socket: {
        get remoteAddress(): string {
          throw new Error('the address must not be read for nobody');
        },
      },
    } as never;
    telemetry.upgradeRefused(0, new WsRefusal('invalid_credential'), request);
    telemetry.closed(new WsRefusal('revoked'), 'someone', request);
    assert.deepEqual(emitted, []);
  });
});

describe('RevocationList.holds', () => {
  const NOW = 1_800_000_000_000;
  it('tells a repeat or an echo from news', () => {
    const list = new RevocationList();
    const subject = { kind: 'subject', subject: 's', cutoff: 100, expiresAt: NOW + 1000 } as const;
    const jti = { kind: 'jti', jti: 'j', expiresAt: NOW + 1000 } as const;
    assert.equal(list.holds(subject), false);
    list.add(subject, NOW);
    list.add(jti, NOW);
    assert.equal(list.holds(subject), true);
    assert.equal(list.holds(jti), true);
    assert.equal(list.holds({ ...subject, cutoff: 101 }), false, 'a later cut-off is news');
    assert.equal(list.holds({ ...jti, expiresAt: NOW + 2000 }), false, 'a longer life is news');
    assert.equal(list.holds({ ...subject, subject: 't' }), false);
  });
});
