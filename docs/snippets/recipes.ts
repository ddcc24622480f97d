// README: Custom authenticators: recipes.
import { WebSocketGateway } from '@nestjs/websockets';
import type { INestApplication } from '@nestjs/common';
import session, { type Store } from 'express-session';
import { WsAuthModule } from 'nestjs-ws-auth';
import { apiKeyAuthenticator, apiKeyDigest } from '../../recipes/api-key.authenticator.js';
import { expressSessionAuthenticator } from '../../recipes/express-session.authenticator.js';

declare const app: INestApplication;
declare const secret: string, store: Store;

// #region api-key
const clients = new Map([[apiKeyDigest(process.env.BILLING_KEY!), { name: 'billing', roles: ['service'] }]]);
@WebSocketGateway({ path: '/services', wsAuth: { authenticate: apiKeyAuthenticator(clients) } })
// #endregion
export class ServicesGateway {}

// #region express-session
const sessions = session({ secret, store, resave: false, saveUninitialized: false });
app.use(sessions);
// #endregion
WsAuthModule.forRoot({
  // #region express-session
  // in the module options or a gateway's wsAuth:
  authenticate: expressSessionAuthenticator(sessions, (s) => s.user && { user: s.user, subject: s.user.id, roles: s.user.roles }),
  // #endregion
});
