// README: Tokens from an identity provider (JWKS).
import { WsAuthModule } from 'nestjs-ws-auth';

// #region jwks
WsAuthModule.forRoot({
  jwt: {
    jwksUri: 'https://id.example.com/realms/app/protocol/openid-connect/certs',
    algorithms: ['RS256'],          // default RS256; RS*, PS*, ES* and EdDSA can be pinned
    issuer: 'https://id.example.com/realms/app',
    audience: 'chat',
  },
  rolesClaim: 'realm_access.roles', // Keycloak
  validate: (claims) => ({ id: claims.sub, username: claims.preferred_username }),
});
// #endregion
