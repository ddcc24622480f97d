import type { IncomingMessage } from 'node:http';
import type { WsIdentity } from '../identity/ws-identity.js';
import { WsRefusal, type WsRefusalReason } from '../refusals/ws-refusal.js';
import { ATTRIBUTE, authMetrics, outcome } from './auth-metrics.js';
import type { WsAuthEvents } from './ws-auth-events.service.js';

type Attributes = Readonly<Record<string, string | number>>;

/** Whatever knows the peer's address: the upgrade's TCP socket. Read only for an event. */
export interface Peer {
  readonly remoteAddress?: string;
}

/** The gateway's label: its path on the app's server, or `:<port><path>` on a port of its own. */
export function gatewayLabel(port: unknown, path: unknown): string {
  const normalized = typeof path === 'string' ? `/${path.replace(/^\/+|\/+$/g, '')}` : '/';
  return Number(port) > 0 ? `:${Number(port)}${normalized}` : normalized;
}

/**
 * The metrics and events of one gateway. Attribute objects are built once per gateway and
 * outcome, so a handshake allocates nothing for telemetry; without a MeterProvider nothing
 * reads the clock, and without a subscriber no event is built.
 */
export class GatewayTelemetry {
  private readonly labels: Attributes;
  private readonly acceptedDuration: Attributes;
  private readonly refusedDuration: Attributes;
  private readonly accepted = new Map<string, Attributes>();
  private readonly refused = new Map<WsRefusalReason, Attributes>();
  private readonly closes = new Map<WsRefusalReason, Attributes>();
  private readonly refreshRefused = new Map<WsRefusalReason, Attributes>();
  private readonly refreshAccepted: Attributes;

  constructor(
    readonly gateway: string,
    private readonly events: WsAuthEvents,
  ) {
    this.labels = Object.freeze({ [ATTRIBUTE.gateway]: gateway });
    this.acceptedDuration = Object.freeze(outcome(this.labels, undefined));
    this.refusedDuration = Object.freeze({ ...this.labels, [ATTRIBUTE.result]: 'refused' });
    this.refreshAccepted = this.acceptedDuration;
  }

  /** When the upgrade's authentication began, if anything measures it (0 otherwise). */
  upgradeStarted(): number {
    return authMetrics.enabled ? performance.now() : 0;
  }

  /** `identity` is undefined for an in-band gateway, whose upgrade carries no credential. */
  upgradeAccepted(started: number, identity: WsIdentity | undefined, request: IncomingMessage): void {
    if (authMetrics.enabled) {
      const source = identity ? identity.source : 'in_band';
      authMetrics.attempts.add(
        1,
        this.accepted.get(source) ?? remember(this.accepted, source, { ...this.acceptedDuration, [ATTRIBUTE.credentialSource]: source }),
      );
      this.recordDuration(started, this.acceptedDuration);
    }
    if (identity && this.events.observed) this.authenticated(identity, request.socket);
  }

  upgradeRefused(started: number, refusal: WsRefusal, request: IncomingMessage): void {
    if (authMetrics.enabled) {
      authMetrics.attempts.add(1, this.refused.get(refusal.reason) ?? remember(this.refused, refusal.reason, outcome(this.labels, refusal.reason)));
      this.recordDuration(started, this.refusedDuration);
    }
    if (this.events.observed) {
      const { reason, status } = refusal;
      this.events.emit({ type: 'connection.refused', gateway: this.gateway, reason, status, remoteAddress: request.socket.remoteAddress, at: Date.now() });
    }
  }

  /** An identity established on an open socket (in-band), or at the upgrade. */
  authenticated(identity: WsIdentity, peer: Peer): void {
    if (!this.events.observed) return;
    const { subject, source } = identity;
    this.events.emit({ type: 'connection.accepted', gateway: this.gateway, subject, source, remoteAddress: peer.remoteAddress, at: Date.now() });
  }

  connectionOpened(): void {
    if (authMetrics.enabled) authMetrics.active.add(1, this.labels);
  }

  connectionEnded(): void {
    if (authMetrics.enabled) authMetrics.active.add(-1, this.labels);
  }

  pendingStarted(): void {
    if (authMetrics.enabled) authMetrics.pending.add(1, this.labels);
  }

  pendingEnded(): void {
    if (authMetrics.enabled) authMetrics.pending.add(-1, this.labels);
  }

  closed(refusal: WsRefusal, subject: string | undefined, peer: Peer | undefined): void {
    const { reason, closeCode: code } = refusal;
    if (authMetrics.enabled) {
      authMetrics.closes.add(
        1,
        this.closes.get(reason) ?? remember(this.closes, reason, { ...this.labels, [ATTRIBUTE.closeCode]: code, [ATTRIBUTE.closeReason]: reason }),
      );
    }
    if (this.events.observed) {
      this.events.emit({ type: 'connection.closed', gateway: this.gateway, subject, code, reason, remoteAddress: peer?.remoteAddress, at: Date.now() });
    }
  }

  refreshed(subject: string | undefined, peer: Peer | undefined): void {
    if (authMetrics.enabled) authMetrics.refreshes.add(1, this.refreshAccepted);
    if (this.events.observed)
      this.events.emit({ type: 'connection.refreshed', gateway: this.gateway, subject, remoteAddress: peer?.remoteAddress, at: Date.now() });
  }

  /** The close that follows is reported by `closed`. */
  refreshRefusedWith(reason: WsRefusalReason | WsRefusal): void {
    if (!authMetrics.enabled) return;
    const known = reason instanceof WsRefusal ? reason.reason : reason;
    authMetrics.refreshes.add(1, this.refreshRefused.get(known) ?? remember(this.refreshRefused, known, outcome(this.labels, known)));
  }

  private recordDuration(started: number, attributes: Attributes): void {
    // 0: the provider was registered while this upgrade was under way.
    if (started > 0) authMetrics.duration.record((performance.now() - started) / 1000, attributes);
  }
}

// Looked up before this is called (`get(key) ?? remember(...)`), so the attributes are built
// once per key, and a recording that finds them allocates nothing, not even a closure.
function remember<K>(cache: Map<K, Attributes>, key: K, attributes: Attributes): Attributes {
  cache.set(key, Object.freeze(attributes));
  return attributes;
}
