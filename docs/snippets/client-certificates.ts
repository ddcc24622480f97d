// README: Client certificates (mutual TLS).
import { readFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { WsAuthModule, type WsCertificateValidateFn } from 'nestjs-ws-auth';

interface Device {
  id: string;
}
declare class AppModule {}
declare const key: Buffer, cert: Buffer, ca: Buffer, secret: string;
declare const devices: { byFingerprint(fingerprint: string): Device | undefined };
declare const validate: WsCertificateValidateFn<Device>;

// #region mtls
const app = await NestFactory.create(AppModule, {
  httpsOptions: { key, cert, ca, requestCert: true, rejectUnauthorized: false },
});

WsAuthModule.forRoot({
  jwt: { secret },                  // optional: tokens are still accepted after certificates
  clientCertificate: {
    // `certificate` is Node's X509Certificate: subject, subjectAltName, fingerprint256...
    validate: (certificate) => {
      const device = devices.byFingerprint(certificate.fingerprint256);
      return device ? { user: device, subject: device.id, roles: ['device'] } : null;
    },
  },
});
// #endregion

WsAuthModule.forRoot({
  // #region proxy
  clientCertificate: {
    validate,
    proxyHeader: 'X-Client-Cert',            // nginx: proxy_set_header X-Client-Cert $ssl_client_escaped_cert;
    trustedProxies: ['10.0.0.0/8'],          // addresses or CIDR ranges; required with proxyHeader
    proxyCa: readFileSync('client-ca.pem'),  // optional: check the issuer again here
  }
  // #endregion
});
