// README: Revocation.
import { Injectable } from '@nestjs/common';
import { RedisRevocationStore, WsAuthModule, WsRevocations } from 'nestjs-ws-auth';

declare const secret: string;

@Injectable()
export class AccountService {
  // #region revocations
  constructor(private readonly revocations: WsRevocations) {}

  // #endregion
  async examples(claims: { jti: string; exp: number }, user: { id: string }) {
    // #region revocations
    // Logout of one session: that token (its `jti`) is dead everywhere; its sockets close (4403).
    await this.revocations.revoke({ jti: claims.jti, expiresAt: claims.exp * 1000 }, 'logged_out');

    // Ban, or "log out everywhere": every credential of the user issued up to now is dead, and every
    // open socket of the user on every instance closes (4403 "Banned"). A login after this second works.
    await this.revocations.revoke({ subject: user.id }, 'banned');

    // Unban: credentials it covered work again if they have not expired.
    await this.revocations.unrevoke({ subject: user.id });
    this.revocations.list(); // [{ kind: 'subject', subject, cutoff, expiresAt }, { kind: 'jti', jti, expiresAt }]
    // #endregion
  }
}

// #region redis-store
WsAuthModule.forRoot({
  jwt: { secret },
  revocation: { store: new RedisRevocationStore({ url: process.env.REDIS_URL! }), maxTokenLifetimeSeconds: 3600 },
});
// #endregion
