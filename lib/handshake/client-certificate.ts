import type { IncomingMessage } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { WsCertificateValidateFn, WsClientCertificateOptions } from '../ws-auth-options.interface.js';
import { WsRefusal } from '../refusals/ws-refusal.js';
import { failStartup, TOKEN_NAME } from '../startup-checks.js';

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const NO_CERTIFICATE = /^\s*(\(null\)|-)?\s*$/;
// Decimal without sign, space, exponent or leading zero: "08" may be someone's octal.
const PREFIX_LENGTH = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Finds the client certificate to trust for an upgrade: the one the TLS layer verified
 * against the server's CA, or, behind a TLS-terminating proxy, the one that proxy forwards
 * in a header, believed only from the configured proxy addresses.
 */
export class ClientCertificateReader {
  private readonly proxyHeader?: string;
  private readonly proxies = new BlockList();
  private readonly proxyCas: X509Certificate[];
  /** The app's mapping from a trusted certificate to its user. */
  readonly validate: WsCertificateValidateFn;

  constructor(options: WsClientCertificateOptions) {
    if (typeof options.validate !== 'function') failStartup('clientCertificate.validate must be a function.');
    this.validate = options.validate;
    if (options.proxyHeader !== undefined) {
      if (!TOKEN_NAME.test(options.proxyHeader)) failStartup(`clientCertificate.proxyHeader "${options.proxyHeader}" is not a header name.`);
      if (!options.trustedProxies?.length) failStartup('clientCertificate.proxyHeader needs trustedProxies: anyone else could send the header.');
      this.proxyHeader = options.proxyHeader.toLowerCase();
    }
    const trustedProxies: unknown = options.trustedProxies ?? [];
    // A lone string would be read character by character.
    if (!Array.isArray(trustedProxies)) failStartup('clientCertificate.trustedProxies must be an array of addresses or CIDR ranges.');
    for (const entry of trustedProxies) this.trustProxy(entry);
    this.proxyCas = [options.proxyCa ?? []].flat().map((pem) => {
      try {
        return new X509Certificate(pem);
      } catch {
        failStartup('clientCertificate.proxyCa holds something that is not a PEM certificate.');
      }
    });
  }

  /** The certificate to trust, or undefined when there is none (the next source is tried). */
  read(request: IncomingMessage): X509Certificate | undefined {
    // A trusted proxy speaks for its clients: if it connects over mutual TLS itself, its own
    // certificate must not stand for every client behind it.
    if (this.proxyHeader && this.isTrustedProxy(request.socket.remoteAddress)) return this.fromProxy(request, this.proxyHeader);
    const socket = request.socket as Partial<TLSSocket>;
    // `authorized` is true only when the chain verified against the server's trusted CAs.
    if (socket.encrypted && socket.authorized === true) {
      const peer = socket.getPeerCertificate?.();
      if (peer?.raw) return new X509Certificate(peer.raw);
    }
    // From anyone but a trusted proxy, the header is a claim, not a certificate.
    return undefined;
  }

  private fromProxy(request: IncomingMessage, header: string): X509Certificate | undefined {
    const value = request.headers[header];
    // Proxies send an empty value (or "(null)") for a client without a certificate.
    if (typeof value !== 'string' || NO_CERTIFICATE.test(value)) return undefined;
    let certificate: X509Certificate;
    try {
      certificate = new X509Certificate(decodeForwarded(value));
    } catch {
      throw new WsRefusal('invalid_credential');
    }
    const now = Date.now();
    if (Date.parse(certificate.validFrom) > now || Date.parse(certificate.validTo) <= now) throw new WsRefusal('invalid_credential');
    if (this.proxyCas.length && !this.proxyCas.some((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey))) {
      throw new WsRefusal('invalid_credential');
    }
    return certificate;
  }

  /**
   * Every entry is read strictly: one exact address, or an address, one slash and a prefix in
   * plain decimal. Loose parsing fails open here: `Number('')` is 0, so "10.0.0.1/" would
   * have trusted every address on the internet to vouch for a certificate.
   */
  private trustProxy(entry: unknown): void {
    if (typeof entry !== 'string') failStartup('clientCertificate.trustedProxies must hold strings (addresses or CIDR ranges).');
    const slash = entry.indexOf('/');
    const address = slash === -1 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    if (!family) failStartup(`clientCertificate.trustedProxies: ${JSON.stringify(entry)} is not an IP address or CIDR range.`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (slash === -1) return this.proxies.addAddress(address, type);
    const prefix = entry.slice(slash + 1);
    const bits = Number(prefix);
    if (!PREFIX_LENGTH.test(prefix) || bits > (family === 6 ? 128 : 32)) {
      failStartup(`clientCertificate.trustedProxies: ${JSON.stringify(entry)} has a bad prefix (expected /0 to /${family === 6 ? 128 : 32}).`);
    }
    this.proxies.addSubnet(address, bits, type);
  }

  private isTrustedProxy(remoteAddress: string | undefined): boolean {
    if (!remoteAddress) return false;
    const mapped = IPV4_MAPPED.exec(remoteAddress)?.[1];
    return mapped ? this.proxies.check(mapped, 'ipv4') : this.proxies.check(remoteAddress, isIP(remoteAddress) === 6 ? 'ipv6' : 'ipv4');
  }
}

/**
 * Proxies forward a certificate as URL-encoded PEM (nginx `$ssl_client_escaped_cert`, AWS
 * ALB), or as base64 DER without PEM armour (HAProxy `ssl_c_der,base64`, Traefik).
 */
function decodeForwarded(value: string): string | Buffer {
  const text = value.includes('%') ? decodeURIComponent(value) : value;
  return text.trimStart().startsWith('-----BEGIN') ? text : Buffer.from(text, 'base64');
}
