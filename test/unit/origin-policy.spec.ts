import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OriginPolicy } from '../../lib/handshake/origin-policy.js';

describe('OriginPolicy with an allowlist', () => {
  const policy = new OriginPolicy(['https://app.example.com', 'http://localhost:3000']);

  it('permits the exact listed origins, whatever the Host', () => {
    assert.equal(policy.permits('https://app.example.com', 'api.example.com'), true);
    assert.equal(policy.permits('http://localhost:3000', undefined), true);
  });

  it('permits a request without Origin: the check exists for browsers, which always send one', () => {
    assert.equal(policy.permits(undefined, 'api.example.com'), true);
  });

  it('refuses every near miss', () => {
    for (const origin of [
      'null',
      '',
      'https://app.example.com.evil.com',
      'https://evil-app.example.com',
      'https://app.example.com:8443',
      'http://app.example.com',
      'wss://app.example.com',
      'https://app.example.com/',
      'https://app.example.com/path',
      'https://app.example.com?x=1',
      'https://user:pw@app.example.com',
      'https://app.example.com:443',
      'http://localhost:3001',
      'http://localhost',
      'app.example.com',
      'https://app.example.com, https://evil.com',
    ]) {
      assert.equal(policy.permits(origin, 'app.example.com'), false, origin);
    }
  });

  // Hosts are case-insensitive and browsers serialize them in lower case (RFC 6454 section 6.2),
  // so an upper-case spelling names the same origin and widens nothing.
  it('compares host case-insensitively', () => {
    assert.equal(policy.permits('HTTPS://APP.EXAMPLE.COM', undefined), true);
  });

  it('normalizes the listed entries the same way as the request', () => {
    const normalized = new OriginPolicy(['HTTPS://App.Example.com:443/', 'http://[::1]:8080']);
    assert.equal(normalized.permits('https://app.example.com', undefined), true);
    assert.equal(normalized.permits('http://[::1]:8080', undefined), true);
  });

  it('refuses everything that carries an Origin when the allowlist is empty', () => {
    const none = new OriginPolicy([]);
    assert.equal(none.permits('https://app.example.com', 'app.example.com'), false);
    assert.equal(none.permits(undefined, 'app.example.com'), true);
  });
});

describe('OriginPolicy without an allowlist: same host only', () => {
  const policy = new OriginPolicy();

  it('permits an Origin naming the Host the request was sent to', () => {
    assert.equal(policy.permits('http://127.0.0.1:3000', '127.0.0.1:3000'), true);
    assert.equal(policy.permits('https://chat.example.com', 'chat.example.com'), true);
  });

  it('treats a default port on the Host as the port the Origin leaves out', () => {
    assert.equal(policy.permits('http://example.com', 'example.com:80'), true);
    assert.equal(policy.permits('https://example.com', 'example.com:443'), true);
    assert.equal(policy.permits('https://example.com', 'example.com:80'), false);
  });

  it('refuses another port, another host, or a host that merely starts alike', () => {
    assert.equal(policy.permits('http://127.0.0.1:3001', '127.0.0.1:3000'), false);
    assert.equal(policy.permits('http://localhost:3000', '127.0.0.1:3000'), false);
    assert.equal(policy.permits('http://example.com.evil.com', 'example.com'), false);
  });

  it('refuses when the Host is missing or is not a bare host', () => {
    assert.equal(policy.permits('http://example.com', undefined), false);
    assert.equal(policy.permits('http://example.com', ''), false);
    assert.equal(policy.permits('http://example.com', 'example.com/path'), false);
  });

  it('refuses opaque and non-http origins', () => {
    assert.equal(policy.permits('null', 'example.com'), false);
    assert.equal(policy.permits('file://example.com', 'example.com'), false);
    assert.equal(policy.permits('ws://example.com', 'example.com'), false);
  });
});

describe('OriginPolicy configuration', () => {
  it('refuses entries that are not an http(s) origin at startup', () => {
    for (const entry of ['null', 'app.example.com', '*', 'ftp://example.com', 'ws://example.com', 'file:///tmp', '']) {
      assert.throws(() => new OriginPolicy([entry]), /allowedOrigins/, entry);
    }
  });

  // A wildcard is never a pattern: it is refused at startup with a message, not kept as a
  // literal origin that silently matches nothing.
  it('refuses wildcard entries', () => {
    for (const entry of ['*', 'https://*.example.com']) {
      assert.throws(() => new OriginPolicy([entry]), /has a wildcard/, entry);
    }
  });

  it('refuses entries with a path, query, fragment or credentials', () => {
    for (const entry of ['https://example.com/app', 'https://example.com?x=1', 'https://example.com#top', 'https://user@example.com']) {
      assert.throws(() => new OriginPolicy([entry]), /scheme:\/\/host\[:port\] only/, entry);
    }
  });
});
