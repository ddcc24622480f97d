/**
 * The library's instruments, recorded through `@opentelemetry/api` when the app installed it
 * and registered a MeterProvider. Metrics are process-wide in OpenTelemetry (one global
 * provider), so the instruments are too: stores built by the app with `new`, outside Nest's
 * injector, report their failures here as well.
 */

type Attributes = Readonly<Record<string, string | number>>;

interface Counter {
  add(value: number, attributes?: Attributes): void;
}

interface Histogram {
  record(value: number, attributes?: Attributes): void;
}

interface InstrumentOptions {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

interface Meter {
  createCounter(name: string, options?: InstrumentOptions): Counter;
  createUpDownCounter(name: string, options?: InstrumentOptions): Counter;
  createHistogram(name: string, options?: InstrumentOptions): Histogram;
}

// Declared here rather than imported: the package is optional, and these declarations must
// compile for an app that does not have it.
interface OpenTelemetryApi {
  metrics: { getMeter(name: string): Meter };
  createNoopMeter(): Meter;
}

export type WsDependency = 'jwks' | 'ticket_store' | 'revocation_store' | 'connection_bus' | 'topic_bus';

export const METER_NAME = 'nestjs-ws-auth';

/** Attribute keys, shared with the gateway instruments. */
export const ATTRIBUTE = {
  gateway: 'ws_auth.gateway',
  result: 'ws_auth.result',
  refusalReason: 'ws_auth.refusal.reason',
  credentialSource: 'ws_auth.credential.source',
  closeCode: 'ws_auth.close.code',
  closeReason: 'ws_auth.close.reason',
  ticketOperation: 'ws_auth.ticket.operation',
  revocationKind: 'ws_auth.revocation.kind',
  revocationOrigin: 'ws_auth.revocation.origin',
  dependency: 'ws_auth.dependency',
} as const;

// A handshake that completes synchronously takes tens of microseconds; one that waits on a
// key server or a store, milliseconds to the verification deadline. The SDK's default
// boundaries (0, 5, 10, 25... read as seconds) would put every handshake in one bucket.
const DURATION_BUCKETS_S = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const NOOP: Counter & Histogram = { add() {}, record() {} };

class AuthMetrics {
  /** Whether a real MeterProvider is registered: when not, nothing reads a clock or builds attributes. */
  enabled = false;
  attempts: Counter = NOOP;
  duration: Histogram = NOOP;
  active: Counter = NOOP;
  pending: Counter = NOOP;
  closes: Counter = NOOP;
  refreshes: Counter = NOOP;
  tickets: Counter = NOOP;
  revocations: Counter = NOOP;
  dependencyFailures: Counter = NOOP;
  // undefined: not loaded yet; null: the package is not installed.
  private api?: OpenTelemetryApi | null;
  private meter?: Meter;
  private readonly attributes = new Map<string, Attributes>();

  /**
   * Loads the API once, then takes the meter of the provider registered now. Run at every
   * module init, so an app started after an SDK was registered (or replaced) records to it.
   * The API has no proxy for metrics: a meter taken before registration stays a no-op.
   */
  async load(): Promise<void> {
    if (this.api === undefined) {
      try {
        this.api = (await import('@opentelemetry/api' as string)) as OpenTelemetryApi;
      } catch {
        // Optional peer dependency: without it, every instrument stays a no-op.
        this.api = null;
      }
    }
    if (this.api) this.bind(this.api);
  }

  ticket(operation: 'issue' | 'redeem', refusal?: string): void {
    if (!this.enabled) return;
    const key = `t:${operation}:${refusal ?? ''}`;
    this.tickets.add(1, this.attributes.get(key) ?? this.remember(key, outcome({ [ATTRIBUTE.ticketOperation]: operation }, refusal)));
  }

  revocation(kind: 'subject' | 'jti', origin: 'local' | 'remote'): void {
    if (!this.enabled) return;
    const key = `r:${kind}:${origin}`;
    this.revocations.add(1, this.attributes.get(key) ?? this.remember(key, { [ATTRIBUTE.revocationKind]: kind, [ATTRIBUTE.revocationOrigin]: origin }));
  }

  dependencyFailure(dependency: WsDependency): void {
    if (!this.enabled) return;
    this.dependencyFailures.add(1, this.attributes.get(dependency) ?? this.remember(dependency, { [ATTRIBUTE.dependency]: dependency }));
  }

  /** One attribute object per combination, built once and shared by every recording. */
  private remember(key: string, attributes: Attributes): Attributes {
    this.attributes.set(key, Object.freeze(attributes));
    return attributes;
  }

  private bind(api: OpenTelemetryApi): void {
    const meter = api.metrics.getMeter(METER_NAME);
    if (meter === this.meter) return;
    this.meter = meter;
    // The API hands out one shared no-op meter while no provider is registered.
    this.enabled = meter !== api.createNoopMeter();
    this.attempts = meter.createCounter('ws_auth.upgrade.attempts', { unit: '{attempt}', description: 'WebSocket upgrades, accepted or refused.' });
    this.duration = meter.createHistogram('ws_auth.upgrade.duration', {
      unit: 's',
      description: 'Time the authentication of an upgrade took, from the request to the decision.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    });
    this.active = meter.createUpDownCounter('ws_auth.connections.active', { unit: '{connection}', description: 'Open authenticated connections.' });
    this.pending = meter.createUpDownCounter('ws_auth.authentications.pending', {
      unit: '{connection}',
      description: 'In-band connections waiting to authenticate.',
    });
    this.closes = meter.createCounter('ws_auth.connections.closed', { unit: '{connection}', description: 'Connections closed for an auth reason.' });
    this.refreshes = meter.createCounter('ws_auth.refreshes', { unit: '{refresh}', description: 'Credential refreshes over an open connection.' });
    this.tickets = meter.createCounter('ws_auth.tickets', { unit: '{ticket}', description: 'Tickets issued and redeemed, or refused.' });
    this.revocations = meter.createCounter('ws_auth.revocations', { unit: '{revocation}', description: 'Revocations applied on this instance.' });
    this.dependencyFailures = meter.createCounter('ws_auth.dependency.failures', {
      unit: '{failure}',
      description: 'Failed calls to a key server, a store or the connection bus.',
    });
  }
}

/** `result` and, when refused, the reason. */
export function outcome(base: Record<string, string | number>, refusal: string | undefined): Attributes {
  return refusal === undefined ? { ...base, [ATTRIBUTE.result]: 'accepted' } : { ...base, [ATTRIBUTE.result]: 'refused', [ATTRIBUTE.refusalReason]: refusal };
}

export const authMetrics = new AuthMetrics();
