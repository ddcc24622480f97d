import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { LocalConnectionBus, WsConnectionBus, WsConnections, WsRefusal, type WsDisconnectCommand, type WsDisconnectListener } from '../../lib/index.js';
import { parseCommand } from '../../lib/connections/redis-connection-bus.js';
import type { WsRevalidateCommand } from '../../lib/connections/ws-connection-bus.js';
import { identityFromClaims, type JwtIdentitySettings } from '../../lib/identity/jwt-identity.js';
import type { TokenVerifier } from '../../lib/jwt/token-verifier.js';
import { RevocationList } from '../../lib/revocations/revocation-list.js';
import { LogCapture } from '../support/log-capture.js';

/**
 * The parser of the release before re-checks, as it is: the test that an instance still
 * running it ignores a revalidate message instead of closing the subject's sockets.
 */
function olderParseCommand(message: string): { subject: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { subject } = parsed as Record<string, unknown>;
  if (typeof subject !== 'string' || subject === '') return undefined;
  return { subject };
}

// What RedisConnectionBus.publishRevalidate puts on the channel.
const WIRE = JSON.stringify({ revalidate: 'user-1', origin: '6f1c0f0e-0000-4000-8000-000000000000' });

describe('the revalidate message on the disconnect channel', () => {
  it('is dropped by an instance that knows only disconnects', () => {
    assert.equal(olderParseCommand(WIRE), undefined);
  });

  it('is read as a re-check by this version', () => {
    assert.deepEqual(parseCommand(WIRE), { kind: 'revalidate', command: { subject: 'user-1', origin: '6f1c0f0e-0000-4000-8000-000000000000' } });
  });

  it('is a disconnect whenever it names a subject, as every older instance reads it', () => {
    assert.deepEqual(parseCommand(JSON.stringify({ subject: 'u', reason: 'banned', revalidate: 'u', origin: 'x' })), {
      kind: 'disconnect',
      command: { subject: 'u', reason: 'banned' },
    });
  });

  it('drops malformed re-checks', () => {
    for (const message of [
      { revalidate: '', origin: 'x' },
      { revalidate: 7, origin: 'x' },
      { revalidate: 'u' },
      { revalidate: 'u', origin: 'x'.repeat(65) },
      { subject: 5, revalidate: 'u', origin: 'x' },
    ]) {
      assert.equal(parseCommand(JSON.stringify(message)), undefined, JSON.stringify(message));
    }
  });
});

describe('a connection bus written before re-checks existed', () => {
  const logs = new LogCapture();
  before(() => Logger.overrideLogger(logs));
  after(() => Logger.overrideLogger(new Logger()));

  class OlderBus extends WsConnectionBus {
    readonly published: unknown[] = [];
    listener?: WsDisconnectListener;
    async publish(command: WsDisconnectCommand): Promise<void> {
      this.published.push(command);
    }
    async subscribe(listener: WsDisconnectListener): Promise<void> {
      this.listener = listener;
    }
  }

  it('still carries disconnects, never a re-check, and re-checks reach this instance only with one warning', async () => {
    const bus = new OlderBus();
    const connections = new WsConnections(bus);
    await connections.onModuleInit();
    assert.equal(await connections.revalidate('user-1'), 0);
    assert.equal(await connections.revalidate('user-1'), 0);
    assert.deepEqual(bus.published, [], 'a re-check must never go through publish(): an older bus would carry it as a disconnect');
    assert.equal(logs.lines.filter((line) => line.includes('does not carry re-checks')).length, 1);
    assert.equal(await connections.disconnect('user-1', 'banned'), 0);
    assert.deepEqual(bus.published, [{ subject: 'user-1', reason: 'banned' }]);
  });
});

describe('LocalConnectionBus re-checks', () => {
  it('carries the re-check of revalidate() with this instance as its origin', async () => {
    const bus = new LocalConnectionBus();
    const heard: WsRevalidateCommand[] = [];
    const connections = new WsConnections(bus);
    await connections.onModuleInit();
    const own = bus.publishRevalidate.bind(bus);
    bus.publishRevalidate = async (command) => {
      heard.push(command);
      return own(command);
    };
    await connections.revalidate('user-2');
    assert.equal(heard.length, 1);
    assert.equal(heard[0].subject, 'user-2');
  });
});

describe('rolesOf', () => {
  const logs = new LogCapture();
  before(() => Logger.overrideLogger(logs));
  after(() => Logger.overrideLogger(new Logger()));

  const settings = (rolesOf: JwtIdentitySettings['rolesOf']): JwtIdentitySettings => ({
    verifier: {} as TokenVerifier,
    validate: () => ({ id: 'u', roles: ['editor'] }),
    rolesClaim: 'roles',
    rolesOf,
    clockToleranceSeconds: 0,
    maxTokenLifetimeSeconds: 3600,
    requireIssuedAt: false,
    revocations: new RevocationList(),
  });
  const claims = { sub: 'u', roles: ['admin'] };
  const request = {} as IncomingMessage;

  it('replaces the roles claim with what it returns for the validated user', () => {
    const identity = identityFromClaims(
      claims,
      'header',
      request,
      settings((user: { roles: string[] }) => user.roles),
    );
    assert.deepEqual((identity as unknown as { roles: string[] }).roles, ['editor']);
  });

  it('refuses with internal_error, one log line, when it returns anything but an array of strings', () => {
    for (const answer of ['admin', ['admin', 1], undefined, { 0: 'admin' }]) {
      const before = logs.lines.length;
      assert.throws(
        () =>
          identityFromClaims(
            claims,
            'header',
            request,
            settings(() => answer as unknown as string[]),
          ),
        (error: unknown) => error instanceof WsRefusal && error.reason === 'internal_error',
        JSON.stringify(answer),
      );
      assert.equal(logs.lines.length, before + 1);
    }
  });

  it('passes a refusal it throws through unchanged', () => {
    assert.throws(
      () =>
        identityFromClaims(
          claims,
          'header',
          request,
          settings(() => {
            throw new WsRefusal('forbidden');
          }),
        ),
      (error: unknown) => error instanceof WsRefusal && error.reason === 'forbidden',
    );
  });
});
