import { KeyObject } from 'node:crypto';
import type { WsJwtAlgorithm } from '../ws-auth-options.interface.js';
import { signatureCheck, type SignatureCheck } from './jws-signature.js';
import type { JoseHeader } from './token-shape.js';

/** @internal */
type Jose = typeof import('jose');
type RemoteKeySet = ReturnType<Jose['createRemoteJWKSet']>;
type KeyResolver = Parameters<RemoteKeySet>;
type FetchingOptions = { cacheMaxAge: number; cooldownDuration: number; timeoutDuration: number };

// jose refuses RSA keys below this at verification (its JWS table, minRsaBits); so do we.
const MIN_RSA_BITS = 2048;

/**
 * @internal The published types name no `jose` (an optional dependency).
 *
 * jose's remote key set, and the keys it has picked so far as node:crypto checks, keyed by
 * the header's `alg` and `kid` (the only members jose picks by), so the next token naming
 * the same is verified without a promise. A kept key is used only while jose's set is fresh,
 * no fetch is under way, and no fetch has answered since the keys were kept: a fetch that
 * changes the set drops every kept key and calls `onChange` (the verified tokens go too), so
 * a removed key verifies nothing once jose has stopped using it.
 */
export class JwksKeys {
  private readonly remote: RemoteKeySet;
  private readonly pinned: ReadonlySet<unknown>;
  private checks = new Map<string, SignatureCheck>();
  private fetches = 0;
  private fetchesSeen = -1;
  private keySetSeen: string | undefined;
  /** Counts the key set changes seen: a verification that spans one must not be remembered. */
  generation = 0;

  constructor(
    jose: Jose,
    url: URL,
    fetching: FetchingOptions,
    algorithms: readonly WsJwtAlgorithm[],
    private readonly onChange: () => void,
  ) {
    this.pinned = new Set(algorithms);
    this.remote = jose.createRemoteJWKSet(url, { ...fetching, [jose.customFetch]: this.fetch });
  }

  reload(): Promise<void> {
    return this.remote.reload();
  }

  /** Whether kept keys (and tokens verified under them) may answer now. */
  usable(): boolean {
    return this.fetches === this.fetchesSeen && this.remote.fresh && !this.remote.reloading;
  }

  /** The kept check for this header, if jose picked its key under the current set. */
  checkFor(header: JoseHeader): SignatureCheck | undefined {
    const id = keyId(header, this.pinned);
    return id === undefined ? undefined : this.checks.get(id);
  }

  /** jose's key resolver, keeping what it picks. */
  readonly resolve = async (...args: KeyResolver): Promise<Awaited<ReturnType<RemoteKeySet>>> => {
    const key = await this.remote(...args);
    // A fetch still under way may replace the set the key came from: keep nothing then.
    if (this.remote.reloading) return key;
    this.notice();
    const header: JoseHeader = args[0] ?? {};
    const id = keyId(header, this.pinned);
    const check = id === undefined ? undefined : checkOf(header.alg as WsJwtAlgorithm, key);
    if (check !== undefined) this.checks.set(id!, check);
    return key;
  };

  private readonly fetch = async (...args: Parameters<typeof fetch>): Promise<Response> => {
    const response = await fetch(...args);
    // Counted before jose reads the body: kept keys stop answering before the set can change.
    this.fetches += 1;
    return response;
  };

  /** Compares the set jose now uses with the one the kept keys came from, once per fetch. */
  private notice(): void {
    if (this.fetches === this.fetchesSeen) return;
    const keySet = JSON.stringify(this.remote.jwks() ?? null);
    if (keySet !== this.keySetSeen) {
      this.checks = new Map();
      this.generation += 1;
      this.onChange();
      this.keySetSeen = keySet;
    }
    this.fetchesSeen = this.fetches;
  }
}

/** `alg` (one of the pinned) and `kid` (a string, or none): what jose picked the key by. */
function keyId(header: JoseHeader, pinned: ReadonlySet<unknown>): string | undefined {
  const { alg, kid } = header;
  if (typeof alg !== 'string' || !pinned.has(alg)) return undefined;
  if (kid === undefined) return alg;
  return typeof kid === 'string' ? `${alg}:${kid}` : undefined;
}

/** The key as a node:crypto check, or none when jose would refuse to verify with it. */
function checkOf(alg: WsJwtAlgorithm, key: Parameters<typeof KeyObject.from>[0] | KeyObject | Uint8Array): SignatureCheck | undefined {
  if (key instanceof Uint8Array) return undefined;
  const keyObject = key instanceof KeyObject ? key : KeyObject.from(key);
  if (keyObject.type !== 'public') return undefined;
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    if (keyObject.asymmetricKeyType !== 'rsa' || (keyObject.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) return undefined;
  }
  return signatureCheck(alg, keyObject);
}
