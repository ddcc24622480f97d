/**
 * Why a connection was closed from the server side. A fixed vocabulary: the close frame's
 * reason text comes from this table, never from a caller or from another instance's message,
 * so nothing a bus carries is ever echoed to a client.
 */
export type WsDisconnectReason = 'revoked' | 'logged_out' | 'kicked' | 'banned' | 'credentials_changed';

/** The close frame's reason text of each disconnect reason. */
export const DISCONNECT_TEXT: Readonly<Record<WsDisconnectReason, string>> = {
  revoked: 'Revoked',
  logged_out: 'Logged Out',
  kicked: 'Kicked',
  banned: 'Banned',
  credentials_changed: 'Credentials Changed',
};

/** A known reason, or 'revoked' for anything else (a caller's free text, a foreign message). */
export function disconnectReason(value: unknown): WsDisconnectReason {
  return typeof value === 'string' && Object.hasOwn(DISCONNECT_TEXT, value) ? (value as WsDisconnectReason) : 'revoked';
}

/** A request to close every socket of one subject, wherever it is connected. */
export interface WsDisconnectCommand {
  readonly subject: string;
  readonly reason: WsDisconnectReason;
}

export type WsDisconnectListener = (command: WsDisconnectCommand) => void;

/**
 * A request to run `validate()` again on every connection of one subject, wherever it is
 * connected. `origin` names the instance that asked: it has done its own share already, so
 * it skips the command when its own bus hands it back.
 */
export interface WsRevalidateCommand {
  readonly subject: string;
  readonly origin: string;
}

export type WsRevalidateListener = (command: WsRevalidateCommand) => void;

/**
 * Carries disconnect commands between instances. The in-process bus is the default;
 * `RedisConnectionBus` reaches every instance on one Redis (Phoenix's `broadcast`).
 *
 * Re-checks (`WsConnections.revalidate`) travel through the two optional methods. A bus
 * written before they existed keeps carrying disconnects; re-checks then reach this instance
 * only (with one warning). A revalidate command is never handed to `publish`: a bus that does
 * not know it would carry it as a disconnect.
 */
export abstract class WsConnectionBus {
  abstract publish(command: WsDisconnectCommand): Promise<void>;
  abstract subscribe(listener: WsDisconnectListener): Promise<void>;
  publishRevalidate?(command: WsRevalidateCommand): Promise<void>;
  subscribeRevalidate?(listener: WsRevalidateListener): Promise<void>;
}

/** One instance only: the command is delivered to this process's listener. */
export class LocalConnectionBus extends WsConnectionBus {
  private listener?: WsDisconnectListener;
  private revalidateListener?: WsRevalidateListener;

  async publish(command: WsDisconnectCommand): Promise<void> {
    this.listener?.(command);
  }

  async subscribe(listener: WsDisconnectListener): Promise<void> {
    this.listener = listener;
  }

  override async publishRevalidate(command: WsRevalidateCommand): Promise<void> {
    this.revalidateListener?.(command);
  }

  override async subscribeRevalidate(listener: WsRevalidateListener): Promise<void> {
    this.revalidateListener = listener;
  }
}
