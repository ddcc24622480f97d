import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { ClientCertificateReader } from '../../lib/handshake/client-certificate.js';
import { MemoryTicketStore, WsAuthConfig, type WsClientCertificateOptions } from '../../lib/index.js';

const validate = () => null;

function upgradeFrom(remoteAddress: string, headers: Record<string, string> = {}): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

describe('ClientCertificateReader options', () => {
  const refuses = (options: Partial<WsClientCertificateOptions>, message: RegExp) =>
    assert.throws(() => new ClientCertificateReader({ validate, ...options } as WsClientCertificateOptions), message);

  it('needs a validate function', () => {
    refuses({ validate: undefined }, /validate must be a function/);
  });

  it('refuses a proxy header that anyone could send', () => {
    refuses({ proxyHeader: 'x-client-cert' }, /needs trustedProxies/);
    refuses({ proxyHeader: 'x-client-cert', trustedProxies: [] }, /needs trustedProxies/);
    refuses({ proxyHeader: 'bad header', trustedProxies: ['10.0.0.1'] }, /not a header name/);
  });

  it('refuses trusted proxies that are not addresses or CIDR ranges', () => {
    refuses({ trustedProxies: ['proxy.internal'] }, /not an IP address/);
    refuses({ trustedProxies: ['10.0.0.0/33'] }, /bad prefix/);
    refuses({ trustedProxies: ['::1/129'] }, /bad prefix/);
  });

  it('refuses every loosely written entry at startup, naming it', () => {
    // '10.0.0.1/' used to read as /0 (Number('') is 0) and trust every address.
    const badPrefixes = [
      '10.0.0.1/',
      '10.0.0.0/8/x',
      '10.0.0.0/08',
      '10.0.0.0/ 8',
      '10.0.0.0/8 ',
      '10.0.0.0/+8',
      '10.0.0.0/-0',
      '10.0.0.0/8.0',
      '10.0.0.0/0x8',
      '10.0.0.0/1e1',
      'fd00::/',
      'fd00::/064',
    ];
    for (const entry of badPrefixes) {
      assert.throws(
        () => new ClientCertificateReader({ validate, trustedProxies: ['192.0.2.1', entry] }),
        (error: Error) => error.message.includes(`${JSON.stringify(entry)} has a bad prefix`),
        entry,
      );
    }
    for (const entry of ['/8', ' 10.0.0.1', '10.0.0.1 ', '', '10.0.0', '010.0.0.1', '10.0.0.1\n', '*']) {
      refuses({ trustedProxies: [entry] }, /is not an IP address or CIDR range/);
    }
    for (const entry of [10, null, undefined, ['10.0.0.1']]) refuses({ trustedProxies: [entry as never] }, /must hold strings/);
    refuses({ trustedProxies: '10.0.0.1' as never }, /must be an array/);
  });

  it('takes exact addresses and well-formed ranges, and trusts only what they cover', () => {
    const reader = new ClientCertificateReader({
      validate,
      proxyHeader: 'X-Client-Cert',
      trustedProxies: ['192.0.2.7', '10.0.0.0/8', '172.16.0.0/12', '198.51.100.0/32', 'fd00::/64', '2001:db8::1', '2001:db8:1::/128', '203.0.113.0/24'],
    });
    const garbage = { 'x-client-cert': 'garbage' };
    for (const address of ['192.0.2.7', '10.255.0.1', '172.31.9.9', '198.51.100.0', 'fd00::abcd', '2001:db8::1', '2001:db8:1::', '203.0.113.200']) {
      assert.throws(() => reader.read(upgradeFrom(address, garbage)), { reason: 'invalid_credential' }, address);
    }
    for (const address of ['192.0.2.8', '11.0.0.1', '172.32.0.1', '198.51.100.1', 'fd00:0:0:1::1', '2001:db8::2', '2001:db8:1::1', '203.0.114.1']) {
      assert.equal(reader.read(upgradeFrom(address, garbage)), undefined, address);
    }
    // /0 is accepted when written out: a deliberate choice, unlike an empty prefix.
    assert.ok(new ClientCertificateReader({ validate, trustedProxies: ['0.0.0.0/0', '::/0'] }));
  });

  it('refuses a proxy CA that is not a certificate', () => {
    refuses({ proxyCa: 'not a pem' }, /not a PEM certificate/);
  });

  it('believes the header only from trusted addresses, IPv4-mapped ones included', () => {
    const reader = new ClientCertificateReader({ validate, proxyHeader: 'X-Client-Cert', trustedProxies: ['10.0.0.0/8', 'fd00::1'] });
    const garbage = { 'x-client-cert': 'garbage' };
    // Believed (and then refused as garbage) from a trusted proxy; ignored from anyone else.
    for (const address of ['10.1.2.3', '::ffff:10.1.2.3', 'fd00::1']) {
      assert.throws(() => reader.read(upgradeFrom(address, garbage)), { reason: 'invalid_credential' });
    }
    for (const address of ['11.1.2.3', '::ffff:11.1.2.3', 'fd00::2', '']) {
      assert.equal(reader.read(upgradeFrom(address, garbage)), undefined);
    }
  });
});

describe('ClientCertificateReader on a trusted proxy', () => {
  const reader = new ClientCertificateReader({ validate, proxyHeader: 'X-Client-Cert', trustedProxies: ['10.0.0.1'] });

  it('takes an empty or "(null)" header for no certificate, so the next source is tried', () => {
    for (const value of ['', '   ', '(null)', '-']) {
      assert.equal(reader.read(upgradeFrom('10.0.0.1', { 'x-client-cert': value })), undefined);
    }
  });

  it("never takes the proxy's own TLS certificate for its clients'", () => {
    // Were the TLS certificate read, this raw value would fail to parse and throw.
    const request = upgradeFrom('10.0.0.1');
    Object.assign(request.socket, { encrypted: true, authorized: true, getPeerCertificate: () => ({ raw: Buffer.from('proxy') }) });
    assert.equal(reader.read(request), undefined);
  });
});

describe('WsAuthConfig with client certificates', () => {
  const config = (options: object) => new WsAuthConfig(options as never, new MemoryTicketStore());

  it('refuses the certificate source without clientCertificate options', () => {
    assert.throws(() => config({ jwt: { secret: 's' }, credentials: ['certificate', 'header'] }), /needs clientCertificate/);
  });

  it('defaults to certificates alone without jwt, and to certificate first with it', () => {
    assert.deepEqual(config({ clientCertificate: { validate } }).authenticatorFor(undefined).settings.sources, ['certificate']);
    assert.deepEqual(config({ jwt: { secret: 's' }, clientCertificate: { validate } }).authenticatorFor(undefined).settings.sources, [
      'certificate',
      'ticket',
      'header',
      'subprotocol',
      'cookie',
    ]);
  });

  it('refuses token sources without jwt options', () => {
    assert.throws(() => config({ clientCertificate: { validate }, credentials: ['certificate', 'header'] }), /needs the module jwt options/);
  });
});
