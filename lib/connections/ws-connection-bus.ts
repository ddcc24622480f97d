/** A request to close every socket of one subject, wherever it is connected. */
export interface WsDisconnectCommand {
  readonly subject: string;
  readonly reason: string;
}

export type WsDisconnectListener = (command: WsDisconnectCommand) => void;

/**
 * Carries disconnect commands between instances. The in-process bus is the default;
 * `RedisConnectionBus` reaches every instance on one Redis (Phoenix's `broadcast`).
 */
export abstract class WsConnectionBus {
  abstract publish(command: WsDisconnectCommand): Promise<void>;
  abstract subscribe(listener: WsDisconnectListener): Promise<void>;
}

/** One instance only: the command is delivered to this process's listener. */
export class LocalConnectionBus extends WsConnectionBus {
  private listener?: WsDisconnectListener;

  async publish(command: WsDisconnectCommand): Promise<void> {
    this.listener?.(command);
  }

  async subscribe(listener: WsDisconnectListener): Promise<void> {
    this.listener = listener;
  }
}
