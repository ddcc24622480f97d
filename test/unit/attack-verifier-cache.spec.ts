import assert from 'node:assert/strict';
import { createHmac, createSecretKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { getWsIdentity, getWsUser, WsRefusal } from '../../lib/index.js';
import { attachIdentity } from '../../lib/identity/identity-store.js';
import type { WsIdentity } from '../../lib/identity/ws-identity.js';
import { signatureCheck } from '../../lib/jwt/jws-signature.js';
import { JwtVerifier, verifiesSignature } from '../../lib/jwt/jwt-verifier.js';
import { VerifiedTokenCache } from '../../lib/jwt/verified-token-cache.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SECRET = 'attack4-secret-long-enough-for-every-hmac-0123456789';
const b64 = (value: string | Buffer) => Buffer.from(value).toString('base64url');
const refused = (error: unknown) => error instanceof WsRefusal && error.reason === 'invalid_credential';
const live = (claims: Record<string, unknown> = {}) => ({ sub: '1', exp: Math.floor(Date.now() / 1000) + 300, ...claims });

function signed(header: object, claims: object, signer: (input: string) => Buffer): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${b64(signer(input))}`;
}
const hmac =
  (hash: string, secret: string | Buffer = SECRET) =>
  (input: string) =>
    createHmac(hash, secret).update(input).digest();
const withSignature = (token: string, signature: string) => `${token.slice(0, token.lastIndexOf('.'))}.${signature}`;
const signatureOf = (token: string) => token.slice(token.lastIndexOf('.') + 1);

/** A verifier whose full verifications (cache misses) are counted. */
function counting(options: ConstructorParameters<typeof JwtVerifier>[0] = { secret: SECRET }, size?: number) {
  const verifier = new JwtVerifier(options, size);
  const calls = { count: 0 };
  const inner = (verifier as unknown as { verifyToken: (...args: unknown[]) => unknown }).verifyToken;
  (verifier as unknown as { verifyToken: unknown }).verifyToken = (...args: unknown[]) => {
    calls.count += 1;
    return inner(...args);
  };
  return { verifier, calls };
}

/** Every spelling of `signature` that differs in its last character only. */
function lastCharacterVariants(signature: string): string[] {
  return [...ALPHABET].filter((c) => c !== signature.at(-1)).map((c) => signature.slice(0, -1) + c);
}

describe('attack: HMAC signatures compared as base64url text', () => {
  for (const [alg, hash] of [
    ['HS256', 'sha256'],
    ['HS384', 'sha384'],
    ['HS512', 'sha512'],
  ] as const) {
    it(`${alg}: refuses every other last character, padding, a trailing character and a case change; accepts only the one spelling`, () => {
      const verifier = new JwtVerifier({ secret: SECRET, algorithms: [alg] }, 0);
      const check = signatureCheck(alg, createSecretKey(Buffer.from(SECRET)));
      const token = signed({ alg }, live(), hmac(hash));
      const signature = signatureOf(token);
      const input = token.slice(0, token.lastIndexOf('.'));
      assert.equal(verifier.verify(token).sub, '1');
      assert.equal(check(input, signature), true);
      // Decoders ignore the bits past the last byte: a decode-and-compare check would admit
      // some of these; the text compare admits none, even without the shape check in front.
      for (const variant of lastCharacterVariants(signature)) {
        assert.equal(check(input, variant), false, variant);
        assert.throws(() => verifier.verify(withSignature(token, variant)), refused, variant);
      }
      const swapped = signature.replace(/[a-z]/, (c) => c.toUpperCase());
      assert.notEqual(swapped, signature);
      for (const sent of [`${signature}=`, `${signature}==`, `${signature}A`, signature.slice(0, -1), swapped, '', `${signature}.`]) {
        assert.equal(check(input, sent), false, sent);
        assert.throws(() => verifier.verify(withSignature(token, sent)), refused, sent);
      }
    });
  }

  it('refuses a signature spelled in the standard base64 alphabet (+ and /), and in look-alike characters', () => {
    const verifier = new JwtVerifier({ secret: SECRET }, 0);
    const check = signatureCheck('HS256', createSecretKey(Buffer.from(SECRET)));
    // A token whose signature has both a '-' and a '_' in it, so both respellings differ.
    let token = '';
    for (let i = 0; i < 2000 && !/-.*_|_.*-/.test(signatureOf(token)); i += 1) token = signed({ alg: 'HS256' }, live({ jti: `std${i}` }), hmac('sha256'));
    const signature = signatureOf(token);
    const input = token.slice(0, token.lastIndexOf('.'));
    const standard = signature.replaceAll('-', '+').replaceAll('_', '/');
    // U+0410 CYRILLIC A, U+FF21 FULLWIDTH A, and a code unit whose low byte is 'A'.
    const lookAlikes = ['\u0410', '\uFF21', '\u0141'].map((c) => signature.replace(/A|[^A]/, c));
    for (const sent of [standard, standard.replace('+', '-'), ...lookAlikes, `${signature}\u200B`, ` ${signature}`]) {
      assert.notEqual(sent, signature);
      assert.equal(check(input, sent), false, sent);
      assert.throws(() => verifier.verify(withSignature(token, sent)), refused, sent);
    }
  });

  it('refuses an HS384 MAC under an HS256 header and an HS256 MAC under an HS384 header, with both algorithms allowed', () => {
    const verifier = new JwtVerifier({ secret: SECRET, algorithms: ['HS256', 'HS384', 'HS512'] }, 0);
    const claims = live();
    assert.equal(verifier.verify(signed({ alg: 'HS384' }, claims, hmac('sha384'))).sub, '1');
    for (const [alg, hash] of [
      ['HS256', 'sha384'],
      ['HS256', 'sha512'],
      ['HS384', 'sha256'],
      ['HS384', 'sha512'],
      ['HS512', 'sha384'],
    ] as const) {
      assert.throws(() => verifier.verify(signed({ alg }, claims, hmac(hash))), refused, `${alg} over ${hash}`);
      // The right MAC cut or padded to the header's length is no MAC either.
      const full = hmac(hash)(`${b64(JSON.stringify({ alg }))}.${b64(JSON.stringify(claims))}`);
      const length = Number(alg.slice(2)) / 8;
      const resized = full.length > length ? full.subarray(0, length) : Buffer.concat([full, Buffer.alloc(length - full.length)]);
      assert.throws(() => verifier.verify(signed({ alg }, claims, () => resized)), refused, `${alg} over ${hash} resized`);
    }
  });

  it('computes the same MAC as createHmac for secrets of the block size, one byte either side, and far longer', () => {
    for (const [alg, hash, block] of [
      ['HS256', 'sha256', 64],
      ['HS384', 'sha384', 128],
      ['HS512', 'sha512', 128],
    ] as const) {
      for (const length of [1, block - 1, block, block + 1, block * 3]) {
        const secret = Buffer.alloc(length, length % 251);
        const check = signatureCheck(alg, createSecretKey(secret));
        const input = `${b64(JSON.stringify({ alg }))}.${b64(JSON.stringify(live()))}`;
        assert.equal(check(input, b64(hmac(hash, secret)(input))), true, `${alg} secret of ${length}`);
        // Below the block size HMAC pads the key with zeros (RFC 2104 section 2), so only a
        // secret of the block size or more gives another MAC with a zero byte appended.
        const longer = hmac(hash, Buffer.concat([secret, Buffer.alloc(1)]))(input);
        if (length >= block) assert.equal(check(input, b64(longer)), false, `${alg} secret of ${length} + 0x00`);
        assert.equal(check(input, b64(hmac(hash, Buffer.concat([secret, Buffer.alloc(1, 1)]))(input))), false, `${alg} secret of ${length} + 0x01`);
      }
    }
  });
});

const ORDERS = {
  'P-256': BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551'),
  'P-384': BigInt('0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973'),
  'P-521': BigInt(`0x01FF${'FFFFFFFF'.repeat(7)}FFFFFFFA51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409`),
};
const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;
const toBig = (bytes: Buffer) => BigInt(`0x${bytes.toString('hex') || '0'}`);
const fromBig = (value: bigint, length: number) => Buffer.from(value.toString(16).padStart(length * 2, '0'), 'hex');
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }) as string;

describe('attack: asymmetric signatures decoded inside the check', () => {
  it('RS256: refuses the signature plus the modulus, which has the same length and the same value mod n', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const verifier = new JwtVerifier({ publicKey: pem(rsa.publicKey) }, 0);
    const n = BigInt(`0x${Buffer.from(rsa.publicKey.export({ format: 'jwk' }).n!, 'base64url').toString('hex')}`);
    let tried = 0;
    for (let i = 0; i < 200 && tried < 3; i += 1) {
      const token = signed({ alg: 'RS256' }, live({ jti: `n${i}` }), (input) => sign('sha256', Buffer.from(input), rsa.privateKey));
      const s = toBig(Buffer.from(signatureOf(token), 'base64url'));
      if (s + n >= 2n ** 2048n) continue;
      tried += 1;
      assert.equal(verifier.verify(token).sub, '1');
      assert.throws(() => verifier.verify(withSignature(token, b64(fromBig(s + n, 256)))), refused);
    }
    assert.equal(tried, 3, 'found signatures small enough to add the modulus to');
  });

  // EdDSA reaches the check through a JWKS only (jwt-key.ts refuses an Ed25519 static key).
  it('EdDSA: refuses a signature one byte short or long, a zero signature, and S + L (RFC 8032 section 5.1.7: S < L)', () => {
    const ed = generateKeyPairSync('ed25519');
    const check = signatureCheck('EdDSA', ed.publicKey);
    const token = signed({ alg: 'EdDSA' }, live(), (input) => sign(null, Buffer.from(input), ed.privateKey));
    const input = token.slice(0, token.lastIndexOf('.'));
    assert.equal(check(input, signatureOf(token)), true);
    const bytes = Buffer.from(signatureOf(token), 'base64url');
    // S is little-endian in the second half.
    const s = toBig(Buffer.from([...bytes.subarray(32)].toReversed()));
    const sPlusL = Buffer.concat([bytes.subarray(0, 32), Buffer.from([...fromBig(s + ED25519_ORDER, 32)].toReversed())]);
    for (const [what, sent] of [
      ['one byte short', bytes.subarray(0, 63)],
      ['a zero byte appended', Buffer.concat([bytes, Buffer.alloc(1)])],
      ['a zero byte prepended', Buffer.concat([Buffer.alloc(1), bytes])],
      ['all zero', Buffer.alloc(64)],
      ['S + L', sPlusL],
    ] as const) {
      assert.equal(verifiesSignature(check, input, b64(sent)), false, what);
    }
  });

  // ECDSA's (r, n - s) verifies wherever (r, s) does. Unlike a non-canonical base64url or an RSA
  // signature short of its modulus, no rule of JWA or of the signer makes one of them the right
  // one: Node, OpenSSL and jose sign either, so refusing the high one would refuse about half of
  // an issuer's genuine tokens. Both spellings carry the same claims, and what the library keys
  // on (revocation by jti or subject, the identity) is the claims, never the token's text.
  for (const [alg, curve, hash, length] of [
    ['ES256', 'P-256', 'sha256', 64],
    ['ES384', 'P-384', 'sha384', 96],
    ['ES512', 'P-521', 'sha512', 132],
  ] as const) {
    it(`${alg}: the second spelling (r, n - s) of a signature stands for the same claims, verified in full`, () => {
      const ec = generateKeyPairSync('ec', { namedCurve: curve });
      const verifier = new JwtVerifier({ publicKey: pem(ec.publicKey) });
      const token = signed({ alg }, live(), (input) => sign(hash, Buffer.from(input), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }));
      const claims = verifier.verify(token);
      verifier.verify(token);
      const bytes = Buffer.from(signatureOf(token), 'base64url');
      const half = length / 2;
      const flipped = Buffer.concat([bytes.subarray(0, half), fromBig(ORDERS[curve] - toBig(bytes.subarray(half)), half)]);
      assert.notDeepEqual(flipped, bytes);
      const respelled = withSignature(token, b64(flipped));
      assert.deepEqual(verifier.verify(respelled), claims);
      // Not answered for the cached spelling: it is another token to the cache.
      assert.equal(verifier.verifiedTokens.size, 1);
      // Any other s is refused.
      const other = Buffer.concat([bytes.subarray(0, half), fromBig((ORDERS[curve] - toBig(bytes.subarray(half)) + 1n) % ORDERS[curve], half)]);
      assert.throws(() => verifier.verify(withSignature(token, b64(other))), refused);
    });
  }
});

// The cache's key, as verified-token-cache.ts computes it: FNV-1a over the last 43 characters,
// cut to 30 bits. Tests prove two tokens collide by what the cache does, not by this alone.
function keyOf(token: string): number {
  let hash = 0x811c9dc5;
  for (let i = Math.max(0, token.length - 43); i < token.length; i += 1) hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
  return hash & 0x3fffffff;
}

/** Two valid HS256 tokens, different claims, whose cache keys are the same. */
function collidingTokens(): [string, string] {
  const seen = new Map<number, string>();
  const exp = Math.floor(Date.now() / 1000) + 300;
  for (let i = 0; i < 400_000; i += 1) {
    const token = signed({ alg: 'HS256' }, { sub: `c${i}`, exp }, hmac('sha256'));
    const key = keyOf(token);
    const other = seen.get(key);
    if (other !== undefined) return [other, token];
    seen.set(key, token);
  }
  throw new Error('no colliding pair within 400,000 tokens');
}

describe('attack: the cache of verified tokens', () => {
  const [first, second] = collidingTokens();

  it('the colliding pair really shares a slot: keeping one evicts the other', () => {
    const cache = new VerifiedTokenCache(0);
    const now = Date.now();
    const payload = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    for (const token of [first, first]) cache.set(token, payload(token), now);
    assert.equal(cache.size, 1);
    for (const token of [second, second]) cache.set(token, payload(token), now);
    assert.equal(cache.size, 1);
    assert.equal(cache.get(first, now), undefined);
    assert.equal(cache.get(second, now)?.sub, claimsOf(second));
  });

  it('never answers a token with the claims of another of the same key, whichever was verified first', () => {
    const { verifier, calls } = counting();
    for (let i = 0; i < 3; i += 1) assert.equal(verifier.verify(first).sub, claimsOf(first));
    assert.equal(calls.count, 2);
    // The first verification of `second` finds its key noted by `first`: kept at once. Harmless,
    // as it was verified in full, but nothing of `first` may answer for it.
    assert.equal(verifier.verify(second).sub, claimsOf(second));
    assert.equal(calls.count, 3);
    assert.equal(verifier.verify(second).sub, claimsOf(second));
    assert.equal(verifier.verify(first).sub, claimsOf(first));
    assert.equal(verifier.verify(first).sub, claimsOf(first));
    assert.equal(verifier.verify(second).sub, claimsOf(second));
    // A forged token of that key (second's tail on first's payload) is refused every time.
    const forged = withSignature(first, signatureOf(second));
    for (let i = 0; i < 3; i += 1) assert.throws(() => verifier.verify(forged), refused);
  });

  it('refuses tokens that share a cached token’s last 43 characters, and they neither evict it nor get kept', () => {
    const { verifier, calls } = counting({ secret: SECRET, algorithms: ['HS512'] });
    const victim = signed({ alg: 'HS512' }, live({ sub: 'victim' }), hmac('sha512'));
    for (let i = 0; i < 3; i += 1) verifier.verify(victim);
    assert.equal(calls.count, 2);
    const sig = signatureOf(victim);
    const forgeries = [
      // HS512's MAC is 86 characters: the first 43 are before the key's reach.
      withSignature(victim, `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`),
      // Another payload under the same signature: the whole tail is the same.
      `${victim.split('.')[0]}.${b64(JSON.stringify(live({ sub: 'mallory', admin: true })))}.${sig}`,
      // The header respelled with a member an issuer never signed.
      `${b64(JSON.stringify({ alg: 'HS512', kid: 'x' }))}.${victim.split('.')[1]}.${sig}`,
    ];
    for (const forged of forgeries) {
      assert.equal(keyOf(forged), keyOf(victim));
      for (let i = 0; i < 3; i += 1) assert.throws(() => verifier.verify(forged), refused);
    }
    assert.equal(calls.count, 2 + forgeries.length * 3, 'every forgery verified in full, every time');
    assert.equal(verifier.verify(victim).sub, 'victim');
    assert.equal(calls.count, 2 + forgeries.length * 3, 'the victim still answered from the cache');
    assert.equal(verifier.verifiedTokens.size, 1);
  });

  it('never keeps a token refused on its claims, however often it is sent, even with its key noted by a good one', () => {
    const { verifier } = counting({ secret: SECRET, audience: 'chat' });
    const good = signed({ alg: 'HS256' }, live({ aud: 'chat' }), hmac('sha256'));
    verifier.verify(good);
    // Same tail as `good` (so the key `good` noted), claims the verifier refuses.
    const wrongAudience = `${good.split('.')[0]}.${b64(JSON.stringify(live({ aud: 'other' })))}.${signatureOf(good)}`;
    const resigned = signed({ alg: 'HS256' }, live({ aud: 'other' }), hmac('sha256'));
    for (let i = 0; i < 4; i += 1) assert.throws(() => verifier.verify(resigned), refused);
    assert.throws(() => verifier.verify(wrongAudience), refused);
    assert.equal(verifier.verifiedTokens.size, 0);
  });

  it('holds at most maxEntries under a stream of tokens each verified twice, and nothing under a stream verified once', () => {
    const { verifier } = counting({ secret: SECRET }, 64);
    const exp = Math.floor(Date.now() / 1000) + 300;
    for (let i = 0; i < 3000; i += 1) {
      const token = signed({ alg: 'HS256' }, { sub: `s${i}`, exp }, hmac('sha256'));
      verifier.verify(token);
      if (i % 2 === 0) verifier.verify(token);
      assert.ok(verifier.verifiedTokens.size <= 64, `size ${verifier.verifiedTokens.size} after ${i}`);
    }
    const once = new JwtVerifier({ secret: SECRET }, 64);
    for (let i = 0; i < 3000; i += 1) once.verify(signed({ alg: 'HS256' }, { sub: `o${i}`, exp }, hmac('sha256')));
    assert.equal(once.verifiedTokens.size, 0);
  });

  it('forgets a cached token at exp exactly, and does not keep it when it is verified twice after a clock step back past nbf', () => {
    const cache = new VerifiedTokenCache(0, 8);
    const exp = Math.floor(Date.now() / 1000) + 100;
    const token = signed({ alg: 'HS256' }, { sub: 'e', nbf: exp - 50, exp }, hmac('sha256'));
    const claims = { sub: 'e', nbf: exp - 50, exp };
    cache.set(token, claims, (exp - 10) * 1000);
    cache.set(token, claims, (exp - 10) * 1000);
    assert.equal(cache.get(token, exp * 1000 - 1)?.sub, 'e');
    assert.equal(cache.get(token, exp * 1000), undefined);
    cache.set(token, claims, (exp - 60) * 1000);
    cache.set(token, claims, (exp - 60) * 1000);
    assert.equal(cache.size, 0);
  });
});

function claimsOf(token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;
}

describe('attack: identities on sockets, read or forged by app code', () => {
  const identity: WsIdentity<{ name: string }> = {
    user: { name: 'attack4-user' },
    subject: 'attack4-subject',
    roles: ['admin'],
    claims: { sub: 'attack4-subject', secret: 'attack4-claim-marker' },
    source: 'header',
  };

  it('answers the socket that holds it, and nothing made from, around or copied off that socket', () => {
    const socket = new EventEmitter();
    attachIdentity(socket, identity);
    assert.equal(getWsIdentity(socket), identity);
    assert.equal(getWsUser<{ name: string }>(socket)?.name, 'attack4-user');
    const proxied = new Proxy(socket, { get: (target, name) => Reflect.get(target, name), has: () => true, getPrototypeOf: () => socket });
    const bound = Object.create(socket) as object;
    const reflected = Object.setPrototypeOf({}, socket) as object;
    for (const [what, other] of [
      ['Object.create(socket)', bound],
      ['setPrototypeOf({}, socket)', reflected],
      ['a Proxy that says it has everything', proxied],
      ['a plain copy', { ...socket }],
      ['Object.assign', Object.assign(new EventEmitter(), socket)],
      ['a frozen copy', Object.freeze({ ...socket })],
    ] as const) {
      assert.equal(getWsIdentity(other), undefined, what);
      assert.equal(getWsUser(other), undefined, what);
    }
  });

  it('answers undefined for primitives, null, undefined and functions, and never throws', () => {
    for (const value of [null, undefined, 0, 1, '', 'socket', true, Symbol('s'), 10n, () => undefined, class Socket extends EventEmitter {}]) {
      assert.equal(getWsIdentity(value as never), undefined, String(typeof value));
      assert.equal(getWsUser(value as never), undefined, String(typeof value));
    }
  });

  it('a socket frozen before or after the identity is attached still answers only its own identity', () => {
    const before = Object.freeze(new EventEmitter());
    attachIdentity(before, identity);
    assert.equal(getWsIdentity(before), identity);
    const after = new EventEmitter();
    attachIdentity(after, identity);
    Object.freeze(after);
    assert.equal(getWsIdentity(after), identity);
    assert.equal(getWsIdentity(Object.create(after)), undefined);
  });

  it('shows no identity, claim or user in inspect, JSON, keys or property descriptors of the socket', () => {
    const socket = new EventEmitter();
    const keys = Reflect.ownKeys(socket);
    attachIdentity(socket, identity);
    assert.deepEqual(Reflect.ownKeys(socket), keys);
    const shown = [
      inspect(socket, { showHidden: true, depth: Infinity, getters: true }),
      JSON.stringify(socket),
      JSON.stringify(Object.getOwnPropertyDescriptors(socket)),
      inspect(Object.entries(socket), { depth: Infinity }),
    ].join('\n');
    assert.doesNotMatch(shown, /attack4/);
  });
});
