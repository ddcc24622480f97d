import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyPair {
  key: Buffer;
  cert: Buffer;
}

/** A throwaway PKI made with the `openssl` command, for mutual-TLS tests. */
export interface TestPki {
  ca: Buffer;
  server: KeyPair;
  /** CN=alice, issued by `ca`. */
  alice: KeyPair;
  /** CN=nobody, issued by `ca`: trusted, but no user of the app. */
  stranger: KeyPair;
  /** CN=alice, issued by a CA nobody trusts. */
  rogue: KeyPair;
  /** CN=alice, issued by `ca`, no longer valid. */
  expired: KeyPair;
  remove(): void;
}

/**
 * Whether the `openssl` command is there. Outside CI a missing one skips the certificate
 * suites with a loud message; under CI=true it is an error, because .ci/run installs it.
 */
export function opensslAvailable(): boolean {
  if (spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0) return true;
  const message = 'openssl not found: install it (apt-get install -y openssl) to run the client-certificate tests';
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`\n!!! SKIPPING CLIENT-CERTIFICATE TESTS: ${message} !!!\n`);
  return false;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'ws-auth-pki-'));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });

  const authority = (name: string) => {
    openssl('req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2');
  };
  const issue = (name: string, cn: string, issuer: string, extensions: string, days = '2'): KeyPair => {
    writeFileSync(path(`${name}.ext`), extensions);
    openssl('req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.crt`,
      '-CAkey',
      `${issuer}.key`,
      '-CAcreateserial',
      '-days',
      days,
      '-out',
      `${name}.crt`,
      '-extfile',
      `${name}.ext`,
    );
    return { key: readFileSync(path(`${name}.key`)), cert: readFileSync(path(`${name}.crt`)) };
  };

  authority('test-ca');
  authority('rogue-ca');
  const client = 'extendedKeyUsage=clientAuth\n';
  return {
    ca: readFileSync(path('test-ca.crt')),
    server: issue('server', 'localhost', 'test-ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'),
    alice: issue('alice', 'alice', 'test-ca', client),
    stranger: issue('stranger', 'nobody', 'test-ca', client),
    rogue: issue('rogue', 'alice', 'rogue-ca', client),
    // openssl 3.0 has no -not_after; a negative lifetime ends before it starts.
    expired: issue('expired', 'alice', 'test-ca', client, '-1'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** How nginx forwards a certificate (`$ssl_client_escaped_cert`): URL-encoded PEM. */
export function escapedPem(cert: Buffer): string {
  return encodeURIComponent(cert.toString('utf8'));
}

/** How HAProxy and Traefik forward one: base64 DER, no PEM armour. */
export function base64Der(cert: Buffer): string {
  return cert
    .toString('utf8')
    .replace(/-----[^-]+-----/g, '')
    .replace(/\s+/g, '');
}
