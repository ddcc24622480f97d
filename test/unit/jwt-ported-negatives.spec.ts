import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { WsAuthJwtOptions, WsJwtClaims } from '../../lib/index.js';
import { JwksVerifier } from '../../lib/jwt/jwks-verifier.js';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';
import { JwksServer, type SigningKey } from '../support/jwks-server.js';

/*
 * The negative cases of jose's and jsonwebtoken's own suites (read at panva/jose afbc664 and
 * auth0/node-jsonwebtoken HEAD), restated for our verifiers, plus the cases issue 14 names
 * that neither suite has. Each case is signed correctly unless the signature is what it
 * tests, so a refusal can only come from the rule the case names.
 */

const b64 = (bytes: string | Buffer) => Buffer.from(bytes).toString('base64url');
const json = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));
const refused = { reason: 'invalid_credential' };
// A fixed instant half a second into its second, so `exp` and `nbf` edges can be exact.
const SECOND = 1_900_000_000;
const AT = SECOND * 1000 + 500;

type Signer = (input: string) => Buffer;
type Alg = 'HS256' | 'HS384' | 'HS512' | 'RS256' | 'PS256' | 'ES256' | 'ES384' | 'ES512';

const secret = randomBytes(64).toString('base64url');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = {
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
  ES512: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
};
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }) as string;

const hmac = (hash: string, key: string | Buffer) => (input: string) => createHmac(hash, key).update(input).digest();
const pss =
  (saltLength: number, key = rsa.privateKey) =>
  (input: string) =>
    sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
const ecdsa =
  (alg: keyof typeof ec, dsaEncoding: 'ieee-p1363' | 'der' = 'ieee-p1363') =>
  (input: string) =>
    sign(`sha${alg.slice(2)}`, Buffer.from(input), { key: ec[alg].privateKey, dsaEncoding });

const SIGNERS: Readonly<Record<Alg, Signer>> = {
  HS256: hmac('sha256', secret),
  HS384: hmac('sha384', secret),
  HS512: hmac('sha512', secret),
  RS256: (input) => sign('sha256', Buffer.from(input), rsa.privateKey),
  PS256: pss(32),
  ES256: ecdsa('ES256'),
  ES384: ecdsa('ES384'),
  ES512: ecdsa('ES512'),
};

const live = (claims: Record<string, unknown> = {}) => ({ sub: '1', exp: Math.floor(Date.now() / 1000) + 300, ...claims });

/** Header and payload as given (objects are serialised, strings kept as literal JSON), signed over exactly those segments. */
function token(header: unknown, payload: unknown, signer: Signer = SIGNERS.HS256): string {
  return signedSegments(b64(json(header)), b64(json(payload)), signer);
}

function signedSegments(header: string, payload: string, signer: Signer): string {
  return `${header}.${payload}.${b64(signer(`${header}.${payload}`))}`;
}

const raw = (header: unknown, payload: unknown, signature: string) => `${b64(json(header))}.${b64(json(payload))}.${signature}`;

/** Bounded search for a token whose segment has the spelling a case needs. */
function until(make: (attempt: number) => string, wanted: (token: string) => boolean): string {
  for (let attempt = 0; attempt < 2000; attempt += 1) {
    const made = make(attempt);
    if (wanted(made)) return made;
  }
  throw new Error('no token of the wanted spelling within 2000 attempts');
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The same bytes spelled with non-zero bits past the last byte (RFC 4648 section 3.5). */
function dirtyTail(segment: string): string {
  const rest = segment.length % 4;
  assert.ok(rest === 2 || rest === 3, 'the segment must end in a partial quantum');
  const last = ALPHABET.indexOf(segment.at(-1)!);
  return segment.slice(0, -1) + ALPHABET[last | 1];
}

/** A token with segment `index` spelled non-canonically, re-signed over the text as sent when it is the header or payload. */
function nonCanonical(index: 0 | 1 | 2, respell: (segment: string) => string, wanted: (segment: string) => boolean): string {
  const good = until(
    // '???' and '>>>' encode to '_' and '-' at one of three alignments.
    (attempt) => token({ alg: 'HS256', kid: `${'x'.repeat(attempt % 3)}???>>>` }, live({ jti: `${'j'.repeat(attempt % 5)}???>>>${attempt}` })),
    (made) => wanted(made.split('.')[index]),
  );
  const segments = good.split('.');
  segments[index] = respell(segments[index]);
  if (index === 2) return segments.join('.');
  return signedSegments(segments[0], segments[1], SIGNERS.HS256);
}

const dirty = (index: 0 | 1 | 2) => nonCanonical(index, dirtyTail, (segment) => segment.length % 4 >= 2 && ALPHABET.indexOf(segment.at(-1)!) % 2 === 0);
const standardAlphabet = (index: 0 | 1 | 2) =>
  nonCanonical(
    index,
    (segment) => segment.replaceAll('-', '+').replaceAll('_', '/'),
    (segment) => /[-_]/.test(segment),
  );
const padded = (index: 0 | 1 | 2) =>
  nonCanonical(
    index,
    (segment) => segment + '='.repeat((4 - (segment.length % 4)) % 4 || 1),
    () => true,
  );

/**
 * A token whose PKCS#1 or PSS signature starts with a zero byte, sent without it. RFC 8017
 * sections 8.1.2 and 8.2.2, step 1: a signature that is not k octets long is invalid.
 */
function leadingZeroStripped(header: Record<string, unknown>, signer: Signer, claims: Record<string, unknown> = {}): string {
  for (let attempt = 0; attempt < 4000; attempt += 1) {
    const input = `${b64(json(header))}.${b64(json(live({ ...claims, jti: `z${attempt}` })))}`;
    const signature = signer(input);
    if (signature[0] === 0) return `${input}.${b64(signature.subarray(1))}`;
  }
  throw new Error('no RSA signature with a leading zero byte within 4000 attempts');
}

const verifierOptions = {
  hs256: { secret },
  hs: { secret, algorithms: ['HS256', 'HS384', 'HS512'] },
  rs256: { publicKey: pem(rsa.publicKey), algorithms: ['RS256'] },
  ps256: { publicKey: pem(rsa.publicKey), algorithms: ['PS256'] },
  es256: { publicKey: pem(ec.ES256.publicKey) },
  es384: { publicKey: pem(ec.ES384.publicKey) },
  es512: { publicKey: pem(ec.ES512.publicKey) },
  issuer: { secret, issuer: 'urn:example:issuer' },
  issuers: { secret, issuer: ['urn:example:issuer', 'urn:example:other'] },
  audience: { secret, audience: 'urn:foo' },
  audiences: { secret, audience: ['urn:no_match', 'urn:foo'] },
  audiencePattern: { secret, audience: /^urn:f[o]{2}$/ },
  audiencePatterns: { secret, audience: [/^urn:no_match$/, 'urn:foo'] },
  tolerant: { secret, clockToleranceSeconds: 5 },
  noExp: { secret, requireExpiration: false },
} satisfies Record<string, WsAuthJwtOptions>;
type VerifierName = keyof typeof verifierOptions;

// Without the cache (0 entries): every case runs the full path.
const verifiers = Object.fromEntries(Object.entries(verifierOptions).map(([name, options]) => [name, new JwtVerifier(options, 0)])) as Record<
  VerifierName,
  JwtVerifier
>;

interface Case {
  readonly source: string;
  readonly name: string;
  readonly verifier: VerifierName;
  readonly token: () => string;
  /** Default: refused. */
  readonly accept?: true;
  /** Epoch ms the clock is pinned to. */
  readonly at?: number;
  /** A known finding: the case states the rule, and stays visible until the rule is kept. */
  readonly todo?: string;
}

const JOSE_VERIFY = 'jose test/jwt/verify.test.ts';
const JOSE_CRIT = 'jose test/jws/crit.test.ts';
const JOSE_B64 = 'jose test/jws/unencoded.test.ts';
const JOSE_BASE64URL = 'jose test/util/base64url.test.ts';
const JOSE_COMPACT = 'jose test/jws/compact.verify.test.ts';
const JOSE_UNSECURED = 'jose test/jwt/unsecured.test.ts';
const JOSE_RESTRICTIONS = 'jose test/jws/restrictions.test.ts';
const JWT_EXP = 'jsonwebtoken test/claim-exp.test.js';
const JWT_NBF = 'jsonwebtoken test/claim-nbf.test.js';
const JWT_IAT = 'jsonwebtoken test/claim-iat.test.js';
const JWT_ISS = 'jsonwebtoken test/claim-iss.test.js';
const JWT_AUD = 'jsonwebtoken test/claim-aud.test.js';
const JWT_SUB = 'jsonwebtoken test/claim-sub.tests.js';
const JWT_VERIFY = 'jsonwebtoken test/verify.tests.js';
const JWT_HS = 'jsonwebtoken test/jwt.hs.tests.js';
const JWT_ASYM = 'jsonwebtoken test/jwt.asymmetric_signing.tests.js';
const JWT_WRONG_ALG = 'jsonwebtoken test/wrong_alg.tests.js';
const JWT_MALICIOUS = 'jsonwebtoken test/jwt.malicious.tests.js';
const JWT_INVALID_EXP = 'jsonwebtoken test/invalid_exp.tests.js';
const JWT_NON_OBJECT = 'jsonwebtoken test/non_object_values.tests.js';
const ISSUE = 'issue 14';

const NOT_NUMBERS: readonly unknown[] = [true, false, null, '', ' ', 'invalid', '1900000100', [], ['foo'], {}, { foo: 'bar' }];

const cases: Case[] = [];
const add = (source: string, verifier: VerifierName, name: string, make: () => string, extra: Partial<Case> = {}) =>
  cases.push({ source, verifier, name, token: make, ...extra });

// Controls: one valid token per key type, so every refusal below is the case's own.
for (const [alg, verifier] of [
  ['HS256', 'hs'],
  ['HS384', 'hs'],
  ['HS512', 'hs'],
  ['RS256', 'rs256'],
  ['PS256', 'ps256'],
  ['ES256', 'es256'],
  ['ES384', 'es384'],
  ['ES512', 'es512'],
] as const) {
  add(JWT_ASYM, verifier, `control: a valid ${alg} token`, () => token({ alg, typ: 'JWT' }, live(), SIGNERS[alg]), { accept: true });
}

// alg none, in every spelling, with and without a signature.
for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
  for (const verifier of ['hs256', 'rs256', 'es256'] as const) {
    add(JOSE_UNSECURED, verifier, `alg "${alg}" with an empty signature`, () => raw({ alg }, live(), ''));
  }
  add(JWT_VERIFY, 'hs256', `alg "${alg}" carrying a real HMAC signature`, () => token({ alg }, live()));
}
add(JWT_HS, 'hs256', 'an HS256 header with no signature segment', () => raw({ alg: 'HS256' }, live(), ''));
add(JWT_HS, 'hs256', 'an HS256 header with the signature removed, dot and all', () => raw({ alg: 'HS256' }, live(), '').slice(0, -1));

// Algorithm confusion: the public key, in any form, used as an HMAC secret.
const publicKeyForms: Array<[string, keyof typeof verifierOptions, string | Buffer]> = [
  ['RSA public key PEM', 'rs256', pem(rsa.publicKey)],
  ['RSA public key DER', 'rs256', rsa.publicKey.export({ type: 'spki', format: 'der' })],
  ['RSA public key PKCS#1 PEM', 'rs256', rsa.publicKey.export({ type: 'pkcs1', format: 'pem' }) as string],
  ['RSA public key JWK', 'rs256', JSON.stringify(rsa.publicKey.export({ format: 'jwk' }))],
  ['EC public key PEM', 'es256', pem(ec.ES256.publicKey)],
  ['EC public key DER', 'es256', ec.ES256.publicKey.export({ type: 'spki', format: 'der' })],
  ['EC public key JWK', 'es256', JSON.stringify(ec.ES256.publicKey.export({ format: 'jwk' }))],
];
for (const [form, verifier, key] of publicKeyForms) {
  for (const hash of ['256', '384', '512']) {
    add(JWT_MALICIOUS, verifier, `HS${hash} signed with the ${form} as the secret`, () => token({ alg: `HS${hash}` }, live(), hmac(`sha${hash}`, key)));
  }
}
add(JWT_WRONG_ALG, 'rs256', 'HS256 with the RSA public key PEM, its trailing newline trimmed', () =>
  token({ alg: 'HS256' }, live(), hmac('sha256', pem(rsa.publicKey).trim())),
);

// Algorithms outside the pinned list, signed correctly by the right key.
add(JWT_WRONG_ALG, 'hs256', 'HS384 against an HS256-only verifier', () => token({ alg: 'HS384' }, live(), SIGNERS.HS384));
add(JWT_WRONG_ALG, 'hs256', 'HS512 against an HS256-only verifier', () => token({ alg: 'HS512' }, live(), SIGNERS.HS512));
add(JWT_WRONG_ALG, 'hs', 'an HS256 signature under an HS384 header', () => token({ alg: 'HS384' }, live(), SIGNERS.HS256));
add(JOSE_VERIFY, 'rs256', 'PS256 by the right key against an RS256-only verifier', () => token({ alg: 'PS256' }, live(), SIGNERS.PS256));
add(JOSE_VERIFY, 'ps256', 'RS256 by the right key against a PS256-only verifier', () => token({ alg: 'RS256' }, live(), SIGNERS.RS256));
add(JOSE_VERIFY, 'rs256', 'RS512 by the right key against an RS256-only verifier', () =>
  token({ alg: 'RS512' }, live(), (input) => sign('sha512', Buffer.from(input), rsa.privateKey)),
);
add(JOSE_VERIFY, 'es256', 'an ES384 header over an ES256 signature', () => token({ alg: 'ES384' }, live(), SIGNERS.ES256));
add(JOSE_VERIFY, 'es384', 'an ES256 header against a P-384 key', () => token({ alg: 'ES256' }, live(), SIGNERS.ES256));
add(JOSE_VERIFY, 'es256', 'EdDSA against a P-256 key', () => token({ alg: 'EdDSA' }, live(), SIGNERS.ES256));
add(JOSE_VERIFY, 'rs256', 'an RS256 token signed by another RSA key', () =>
  token({ alg: 'RS256' }, live(), (input) => sign('sha256', Buffer.from(input), otherRsa.privateKey)),
);

// alg missing, not a string, or not exactly a JWA name.
const ALG_VALUES: Array<[string, unknown]> = [
  ['missing', undefined],
  ['null', null],
  ['a number', 256],
  ['an array', ['HS256']],
  ['an object', { name: 'HS256' }],
  ['true', true],
  ['lower case', 'hs256'],
  ['with a trailing space', 'HS256 '],
  ['with a NUL', 'HS256\u0000'],
];
for (const [what, alg] of ALG_VALUES) add(JOSE_VERIFY, 'hs256', `alg ${what}`, () => token({ alg, typ: 'JWT' }, live()));

// crit: this library understands no extension, so any crit is refused (RFC 7515 section 4.1.11).
const CRITS: Array<[string, unknown, Record<string, unknown>]> = [
  ['naming an unknown extension', ['urn:example:nope'], { 'urn:example:nope': true }],
  ['naming an extension absent from the header', ['urn:example:nope'], {}],
  ['empty', [], {}],
  ['naming a registered parameter', ['exp'], {}],
  ['naming b64 with b64 true', ['b64'], { b64: true }],
  ['naming b64 with b64 false', ['b64'], { b64: false }],
  ['a string, not an array', 'b64', { b64: true }],
  ['null', null, {}],
  ['with an empty name', [''], {}],
  ['with duplicate names', ['b64', 'b64'], { b64: true }],
];
for (const [what, crit, members] of CRITS) add(JOSE_CRIT, 'hs256', `crit ${what}`, () => token({ alg: 'HS256', ...members, crit }, live()));

// b64: false would make the signature cover the raw payload bytes (RFC 7797).
for (const b64Value of [false, 'false', 0, null, 'true']) {
  add(JOSE_B64, 'hs256', `b64 ${JSON.stringify(b64Value)} without crit`, () => token({ alg: 'HS256', b64: b64Value }, live()));
}
add(JOSE_B64, 'hs256', 'b64 true is the default and passes', () => token({ alg: 'HS256', b64: true }, live()), { accept: true });
add(JOSE_VERIFY, 'hs256', 'a b64:false token with a raw payload segment', () => {
  const header = b64(json({ alg: 'HS256', b64: false, crit: ['b64'] }));
  return `${header}.foo.${b64(SIGNERS.HS256(`${header}.foo`))}`;
});

// One token, one spelling: the canonical base64url of each segment and nothing else.
for (const [index, segment] of [
  [0, 'header'],
  [1, 'payload'],
  [2, 'signature'],
] as const) {
  add(JOSE_BASE64URL, 'hs256', `the ${segment} with '=' padding`, () => padded(index));
  add(JOSE_BASE64URL, 'hs256', `the ${segment} in the standard alphabet ('+' '/')`, () => standardAlphabet(index));
  add(ISSUE, 'hs256', `the ${segment} with non-zero bits past its last byte`, () => dirty(index));
  add(JOSE_BASE64URL, 'hs256', `the ${segment} with a space inside`, () => {
    const segments = token({ alg: 'HS256' }, live()).split('.');
    segments[index] = `${segments[index].slice(0, 4)} ${segments[index].slice(4)}`;
    return segments.join('.');
  });
  add(ISSUE, 'hs256', `the ${segment} one character too long (a lone sextet)`, () => {
    const segments = until(
      (attempt) => token({ alg: 'HS256' }, live({ jti: `l${attempt}` })),
      (made) => made.split('.')[index].length % 4 === (index === 2 ? 3 : 0),
    ).split('.');
    // An HS256 signature is 43 characters: two more leave one lone character, as one does elsewhere.
    segments[index] += index === 2 ? 'AA' : 'A';
    return index === 2 ? segments.join('.') : signedSegments(segments[0], segments[1], SIGNERS.HS256);
  });
}
add(JWT_HS, 'hs256', 'a trailing space after the token', () => `${token({ alg: 'HS256' }, live())} `);
add(JWT_HS, 'hs256', 'a leading space before the token', () => ` ${token({ alg: 'HS256' }, live())}`);
add(ISSUE, 'hs256', 'a trailing newline', () => `${token({ alg: 'HS256' }, live())}\n`);
add(ISSUE, 'hs256', 'a tab inside the payload and the signature', () => token({ alg: 'HS256' }, live()).replace(/\.([^.]{5})/g, '.$1\t'));

// Segments: exactly three, none empty.
add(JOSE_COMPACT, 'hs256', 'five dots', () => '.....');
add(JOSE_UNSECURED, 'hs256', 'two dots and nothing else', () => '..');
add(JOSE_UNSECURED, 'hs256', 'empty header and payload', () => '..foo');
add(ISSUE, 'hs256', 'an empty payload segment', () => signedSegments(b64(json({ alg: 'HS256' })), '', SIGNERS.HS256));
add(ISSUE, 'hs256', 'an empty header segment', () => signedSegments('', b64(json(live())), SIGNERS.HS256));
add(JWT_ASYM, 'hs256', 'four segments (a trailing extra part)', () => `${token({ alg: 'HS256' }, live())}.foo`);
add(ISSUE, 'hs256', 'a trailing dot', () => `${token({ alg: 'HS256' }, live())}.`);
add(ISSUE, 'hs256', 'a leading dot', () => `.${token({ alg: 'HS256' }, live())}`);
add(ISSUE, 'hs256', 'a doubled dot', () => token({ alg: 'HS256' }, live()).replace('.', '..'));
add(ISSUE, 'hs256', 'two segments', () => token({ alg: 'HS256' }, live()).split('.').slice(0, 2).join('.'));
add(ISSUE, 'hs256', 'one segment', () => token({ alg: 'HS256' }, live()).split('.')[0]);
add(ISSUE, 'rs256', 'a JWE (five segments)', () => `${b64(json({ alg: 'RSA-OAEP', enc: 'A256GCM' }))}.${b64('k')}.${b64('iv')}.${b64('ct')}.${b64('tag')}`);
add(
  ISSUE,
  'hs256',
  'a JWE with alg dir (five segments, two empty)',
  () => `${b64(json({ alg: 'dir', enc: 'A256GCM' }))}..${b64('iv')}.${b64('ct')}.${b64('tag')}`,
);
add(JWT_ASYM, 'rs256', 'a malformed token', () => 'fruit.fruit.fruit');

// JSON that is not an object, or not JSON.
for (const value of ['[]', '[{"alg":"HS256"}]', '"HS256"', '0', '1', '-1', 'true', 'false', 'null', '""']) {
  add(JOSE_VERIFY, 'hs256', `a payload of ${value}`, () => token({ alg: 'HS256' }, value));
  add(ISSUE, 'hs256', `a header of ${value}`, () => token(value, live()));
}
add(JOSE_VERIFY, 'hs256', 'a payload that is not JSON ("{")', () => token({ alg: 'HS256' }, '{'));
add(JWT_NON_OBJECT, 'hs256', 'a payload that is a bare string (jsonwebtoken signs it)', () => token({ alg: 'HS256' }, 'hello'));
add(ISSUE, 'hs256', 'a header that is not JSON', () => token('{"alg":"HS256"', live()));
add(ISSUE, 'hs256', 'a header with a byte-order mark', () => token('\uFEFF{"alg":"HS256"}', live()));

// Duplicate members: RFC 7515 section 4 allows the lexically last to win, as JSON.parse does.
add(ISSUE, 'hs256', 'a duplicate alg whose last value is none', () => token('{"alg":"HS256","alg":"none"}', live()));
add(ISSUE, 'hs256', 'a duplicate alg whose last value is HS256 (last wins)', () => token('{"alg":"none","alg":"HS256"}', live()), { accept: true });
add(ISSUE, 'hs256', 'a duplicate b64 whose last value is false', () => token('{"alg":"HS256","b64":true,"b64":false}', live()));
add(ISSUE, 'hs256', 'a duplicate crit, the last null', () => token('{"alg":"HS256","crit":["x"],"crit":null}', live()));
add(ISSUE, 'hs256', 'a duplicate exp whose last value is past', () => token({ alg: 'HS256' }, `{"sub":"1","exp":${SECOND + 300},"exp":${SECOND - 1}}`), {
  at: AT,
});

// Octets that are not UTF-8 (C0 AF is an overlong "/").
const notUtf8 = (prefix: string, suffix: string) => b64(Buffer.concat([Buffer.from(prefix), Buffer.from([0xc0, 0xaf]), Buffer.from(suffix)]));
add(
  JOSE_VERIFY,
  'hs256',
  'a payload that is not UTF-8',
  () => signedSegments(b64(json({ alg: 'HS256' })), notUtf8(`{"exp":${SECOND + 300},"sub":"a`, 'b"}'), SIGNERS.HS256),
  { at: AT },
);
add(ISSUE, 'hs256', 'a header that is not UTF-8', () => signedSegments(notUtf8('{"alg":"HS256","kid":"', '"}'), b64(json(live())), SIGNERS.HS256));

// NumericDate claims: a finite number or refused.
for (const claim of ['exp', 'nbf', 'iat']) {
  const source = claim === 'exp' ? JWT_EXP : claim === 'nbf' ? JWT_NBF : JWT_IAT;
  for (const value of NOT_NUMBERS) {
    add(source, 'hs256', `${claim} of ${JSON.stringify(value)}`, () => token({ alg: 'HS256' }, { sub: '1', exp: SECOND + 300, [claim]: value }), { at: AT });
  }
  for (const literal of ['1e309', '-1e309', '8.64e12001', '8640000000001', '-8640000000001']) {
    add(ISSUE, 'hs256', `${claim} of ${literal}`, () => token({ alg: 'HS256' }, `{"sub":"1","exp":${SECOND + 300},"${claim}":${literal}}`), { at: AT });
  }
}
add(JWT_INVALID_EXP, 'hs256', 'exp of 0', () => token({ alg: 'HS256' }, { sub: '1', exp: 0 }));
add(JWT_EXP, 'hs256', 'exp negative', () => token({ alg: 'HS256' }, { sub: '1', exp: -1 }));
add(JWT_EXP, 'noExp', 'exp of null when exp is not required', () => token({ alg: 'HS256' }, { sub: '1', exp: null }));
add(JWT_EXP, 'hs256', 'no exp when exp is required', () => token({ alg: 'HS256' }, { sub: '1' }));
add(JWT_EXP, 'noExp', 'no exp when exp is not required', () => token({ alg: 'HS256' }, { sub: '1' }), { accept: true });
add(JWT_NBF, 'hs256', 'nbf negative passes', () => token({ alg: 'HS256' }, { sub: '1', exp: SECOND + 300, nbf: -1 }), { at: AT, accept: true });
add(
  JWT_IAT,
  'hs256',
  'iat in the future passes (no iat rule in JwtVerifier; the identity bounds the lifetime)',
  () => token({ alg: 'HS256' }, { sub: '1', exp: SECOND + 300, iat: SECOND + 100 }),
  {
    at: AT,
    accept: true,
  },
);

// Time edges at a pinned clock: exp ends validity at its instant, nbf starts it at its own.
const at = (exp: number | undefined, nbf?: number) => () => token({ alg: 'HS256' }, { sub: '1', exp, nbf });
add(JOSE_VERIFY, 'hs256', 'exp equal to now', at(SECOND), { at: SECOND * 1000 });
add(JWT_EXP, 'hs256', 'exp one second before now', at(SECOND - 1), { at: SECOND * 1000 });
add(JWT_EXP, 'hs256', 'exp one second after now', at(SECOND + 1), { at: SECOND * 1000, accept: true });
add(ISSUE, 'hs256', 'exp a fraction before now (jose floors now and would admit it)', at(SECOND + 0.4), { at: AT });
add(ISSUE, 'hs256', 'exp a fraction after now', at(SECOND + 0.6), { at: AT, accept: true });
add(ISSUE, 'hs256', 'exp one millisecond after now', at(SECOND + 0.501), { at: AT, accept: true });
add(ISSUE, 'hs256', 'exp exactly now, to the millisecond', at(SECOND + 0.5), { at: AT });
add(JOSE_VERIFY, 'hs256', 'nbf one second after now', at(SECOND + 300, SECOND + 1), { at: SECOND * 1000 });
add(JWT_NBF, 'hs256', 'nbf equal to now passes', at(SECOND + 300, SECOND), { at: SECOND * 1000, accept: true });
add(ISSUE, 'hs256', 'nbf a millisecond after now', at(SECOND + 300, SECOND + 0.001), { at: SECOND * 1000 });
add(JWT_NBF, 'hs256', 'nbf after now, exp before it', at(SECOND - 1, SECOND + 1), { at: SECOND * 1000 });
add(JOSE_VERIFY, 'tolerant', 'exp plus tolerance equal to now', at(SECOND - 5), { at: SECOND * 1000 });
add(JWT_VERIFY, 'tolerant', 'exp within the tolerance passes', at(SECOND - 4), { at: SECOND * 1000, accept: true });
add(JWT_NBF, 'tolerant', 'nbf minus tolerance equal to now passes', at(SECOND + 300, SECOND + 5), { at: SECOND * 1000, accept: true });
add(JWT_NBF, 'tolerant', 'nbf beyond the tolerance', at(SECOND + 300, SECOND + 6), { at: SECOND * 1000 });

// iss: the configured issuer, present and equal.
const withIss = (iss: unknown) => () => token({ alg: 'HS256' }, live(iss === undefined ? {} : { iss }));
add(JWT_ISS, 'issuer', 'control: the configured iss', withIss('urn:example:issuer'), { accept: true });
add(JWT_ISS, 'issuers', 'control: one of the configured issuers', withIss('urn:example:other'), { accept: true });
add(JWT_ISS, 'issuer', 'iss not the configured string', withIss('urn:wrong'));
add(JWT_ISS, 'issuers', 'iss in none of the configured issuers', withIss('urn:wrong'));
add(JWT_ISS, 'issuer', 'no iss when an issuer is configured', withIss(undefined));
add(JWT_ISS, 'issuers', 'no iss when issuers are configured', withIss(undefined));
add(JOSE_VERIFY, 'issuer', 'iss an array holding the configured issuer', withIss(['urn:example:issuer']));
add(ISSUE, 'issuer', 'iss differing in case', withIss('URN:example:issuer'));
add(ISSUE, 'issuer', 'iss null', withIss(null));
add(ISSUE, 'issuer', 'iss a number', withIss(1));

// aud: one allowed value among the token's, strings or patterns.
const withAud = (aud: unknown) => () => token({ alg: 'HS256' }, live(aud === undefined ? {} : { aud }));
for (const verifier of ['audience', 'audiences', 'audiencePattern', 'audiencePatterns'] as const) {
  add(JWT_AUD, verifier, 'control: aud "urn:foo"', withAud('urn:foo'), { accept: true });
  add(JWT_AUD, verifier, 'control: aud ["urn:foo", "urn:bar"]', withAud(['urn:foo', 'urn:bar']), { accept: true });
  add(JWT_AUD, verifier, 'aud no match', withAud('urn:bar'));
  add(JWT_AUD, verifier, 'aud array with no match', withAud(['urn:bar', 'urn:baz']));
  add(JWT_AUD, verifier, 'no aud', withAud(undefined));
  add(JOSE_VERIFY, verifier, 'aud an empty array', withAud([]));
  add(ISSUE, verifier, 'aud an array with a non-string beside a match (RFC 7519 section 4.1.3: strings)', withAud([1, 'urn:foo']));
  add(ISSUE, verifier, 'aud an object', withAud({ 'urn:foo': true }));
}
add(JWT_AUD, 'audiencePattern', 'aud matching only a prefix of the pattern', withAud('urn:foooo'));

// sub: a string when present; the rest of the library keys identities by it.
add(JWT_SUB, 'hs256', 'sub a number', () => token({ alg: 'HS256' }, live({ sub: 1 })));
add(JWT_SUB, 'hs256', 'sub an array', () => token({ alg: 'HS256' }, live({ sub: ['1'] })));
add(JWT_SUB, 'hs256', 'sub null', () => token({ alg: 'HS256' }, live({ sub: null })));

// Signatures of the wrong length or encoding.
for (const alg of ['ES256', 'ES384', 'ES512'] as const) {
  const verifier = alg.toLowerCase() as 'es256' | 'es384' | 'es512';
  add(JOSE_RESTRICTIONS, verifier, `${alg} with a DER-encoded signature`, () => token({ alg }, live(), ecdsa(alg, 'der')));
  add(ISSUE, verifier, `${alg} with R||S and a zero byte appended`, () =>
    token({ alg }, live(), (input) => Buffer.concat([SIGNERS[alg](input), Buffer.alloc(1)])),
  );
  add(ISSUE, verifier, `${alg} with R||S and a zero byte prepended`, () =>
    token({ alg }, live(), (input) => Buffer.concat([Buffer.alloc(1), SIGNERS[alg](input)])),
  );
  add(ISSUE, verifier, `${alg} with R||S missing its last byte`, () => token({ alg }, live(), (input) => SIGNERS[alg](input).subarray(0, -1)));
  add(ISSUE, verifier, `${alg} with R and S swapped`, () =>
    token({ alg }, live(), (input) => {
      const signature = SIGNERS[alg](input);
      const half = signature.length / 2;
      return Buffer.concat([signature.subarray(half), signature.subarray(0, half)]);
    }),
  );
  add(ISSUE, verifier, `${alg} with an all-zero signature`, () => token({ alg }, live(), (input) => Buffer.alloc(SIGNERS[alg](input).length)));
}
for (const [alg, verifier] of [
  ['RS256', 'rs256'],
  ['PS256', 'ps256'],
] as const) {
  add(ISSUE, verifier, `${alg} with its leading zero byte stripped`, () => leadingZeroStripped({ alg }, SIGNERS[alg]));
  add(ISSUE, verifier, `${alg} with a zero byte prepended`, () => token({ alg }, live(), (input) => Buffer.concat([Buffer.alloc(1), SIGNERS[alg](input)])));
  add(ISSUE, verifier, `${alg} with its last byte cut`, () => token({ alg }, live(), (input) => SIGNERS[alg](input).subarray(0, -1)));
}
for (const saltLength of [0, 20, 31, 33, 64, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
  add(ISSUE, 'ps256', `PS256 with a salt of ${saltLength === constants.RSA_PSS_SALTLEN_MAX_SIGN ? 'the maximum' : saltLength} bytes`, () =>
    token({ alg: 'PS256' }, live(), pss(saltLength)),
  );
}
add(ISSUE, 'ps256', 'a PS256 header over a PS384 signature', () =>
  token({ alg: 'PS256' }, live(), (input) =>
    sign('sha384', Buffer.from(input), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }),
  ),
);
add(JOSE_VERIFY, 'hs256', 'an HMAC signature truncated by three characters', () => token({ alg: 'HS256' }, live()).slice(0, -3));
add(ISSUE, 'hs256', 'an HMAC signature truncated by one byte', () => token({ alg: 'HS256' }, live(), (input) => SIGNERS.HS256(input).subarray(0, -1)));
add(ISSUE, 'hs256', 'an HMAC signature truncated to 16 bytes', () => token({ alg: 'HS256' }, live(), (input) => SIGNERS.HS256(input).subarray(0, 16)));
add(ISSUE, 'hs256', 'an HMAC signature extended by a zero byte', () =>
  token({ alg: 'HS256' }, live(), (input) => Buffer.concat([SIGNERS.HS256(input), Buffer.alloc(1)])),
);
add(ISSUE, 'hs', 'an HS512 signature truncated to HS256 length under an HS256 header', () =>
  token({ alg: 'HS256' }, live(), (input) => SIGNERS.HS512(input).subarray(0, 32)),
);
add(ISSUE, 'hs', 'an HS512 signature under an HS256 header', () => token({ alg: 'HS256' }, live(), SIGNERS.HS512));
add(JWT_HS, 'hs256', 'an HMAC signature by another secret', () => token({ alg: 'HS256' }, live(), hmac('sha256', `${secret}x`)));
add(JOSE_VERIFY, 'hs256', 'an HMAC signature by a two-byte secret', () => token({ alg: 'HS256' }, live(), hmac('sha256', Buffer.from([0, 1]))));
add(ISSUE, 'hs256', 'the signature of another header over the same payload', () => {
  const payload = live();
  const signature = token({ alg: 'HS256' }, payload).split('.')[2];
  return raw({ alg: 'HS256', typ: 'JWT' }, payload, signature);
});
add(ISSUE, 'hs256', 'the signature of another payload', () => {
  const signature = token({ alg: 'HS256' }, live({ admin: false })).split('.')[2];
  return raw({ alg: 'HS256' }, live({ admin: true }), signature);
});
add(JOSE_VERIFY, 'hs256', 'an expired token under a bad signature (the signature is checked first)', () =>
  raw({ alg: 'HS256' }, { exp: 1 }, b64(Buffer.alloc(32))),
);

describe('JwtVerifier: negative cases ported from jose and jsonwebtoken', () => {
  for (const { source, name, verifier, token: make, accept, at: pinned, todo } of cases) {
    it(`${source}: ${name} [${verifier}]`, todo === undefined ? {} : { todo }, (t) => {
      if (pinned !== undefined) t.mock.timers.enable({ apis: ['Date'], now: pinned });
      const candidate = make();
      const v = verifiers[verifier];
      if (accept) {
        const claims: WsJwtClaims = v.verify(candidate);
        const sent = JSON.parse(Buffer.from(candidate.split('.')[1], 'base64url').toString('utf8'));
        assert.deepEqual(claims, sent);
      } else {
        assert.throws(() => v.verify(candidate), refused);
      }
    });
  }
});

describe('length caps: maxTokenLength exactly, and one over', () => {
  it('accepts a token exactly maxTokenLength long and refuses it under a limit one character shorter', () => {
    const candidate = token({ alg: 'HS256' }, live());
    assert.equal(new JwtVerifier({ secret, maxTokenLength: candidate.length }, 0).verify(candidate).sub, '1');
    assert.throws(() => new JwtVerifier({ secret, maxTokenLength: candidate.length - 1 }, 0).verify(candidate), refused);
  });

  it('refuses the default 8192 plus one, and accepts 8192, when both are signed', () => {
    const base = token({ alg: 'HS256' }, live({ pad: '' })).length;
    // Base64url makes 4 characters of 3 bytes; the kid moves the header when the payload cannot land exactly.
    const sized = (length: number) =>
      until(
        (attempt) =>
          token(
            { alg: 'HS256', kid: 'k'.repeat(Math.floor(attempt / 16)) },
            live({ pad: 'x'.repeat(Math.floor(((length - base) * 3) / 4) - 8 + (attempt % 16)) }),
          ),
        (made) => made.length === length,
      );
    assert.equal(verifiers.hs256.verify(sized(8192)).sub, '1');
    assert.throws(() => verifiers.hs256.verify(sized(8193)), refused);
  });
});

describe('startup: a key that cannot be confused', () => {
  const fails = (options: WsAuthJwtOptions) => assert.throws(() => new JwtVerifier(options, 0));
  it('refuses HS* with a public key, none in any case, and an empty list or secret (jsonwebtoken test/jwt.hs.tests.js, wrong_alg)', () => {
    fails({ publicKey: pem(rsa.publicKey), algorithms: ['HS256'] });
    fails({ publicKey: pem(ec.ES256.publicKey), algorithms: ['HS256'] });
    fails({ secret, algorithms: ['RS256'] });
    fails({ publicKey: pem(ec.ES256.publicKey), algorithms: ['ES384'] });
    for (const none of ['none', 'None', 'NONE']) fails({ secret, algorithms: [none as never] });
    fails({ secret, algorithms: [] });
    fails({ secret: '' });
    fails({ secret: Buffer.alloc(0) });
  });
});

/*
 * The same rules through a JWKS: jose picks the key (the first token of a kid goes through
 * it), then node:crypto checks later ones synchronously. Both paths must answer alike.
 */
describe('JwksVerifier: negative cases and kid tricks', () => {
  const idp = new JwksServer();
  const rsKey = (kid: string, jwk: Record<string, unknown> = {}): SigningKey => ({
    kid,
    alg: 'RS256',
    privateKey: rsa.privateKey,
    publicJwk: { ...rsa.publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256', ...jwk },
  });
  const ecKey: SigningKey = {
    kid: 'ec-1',
    alg: 'ES256',
    privateKey: ec.ES256.privateKey,
    publicJwk: { ...ec.ES256.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig', alg: 'ES256' },
  };
  const other: SigningKey = {
    ...rsKey('rsa-2'),
    privateKey: otherRsa.privateKey,
    publicJwk: { ...otherRsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-2', use: 'sig' },
  };
  const encKey: SigningKey = { ...rsKey('rsa-enc'), publicJwk: { ...rsKey('rsa-enc').publicJwk, use: 'enc' } };
  let verifier: JwksVerifier;
  const claims = () => live({ iss: 'urn:example:issuer', aud: 'chat' });
  const rs = (header: Record<string, unknown>, payload: unknown = claims(), signer: Signer = SIGNERS.RS256) =>
    token({ alg: 'RS256', ...header }, payload, signer);
  const JOSE_LOCAL = 'jose test/jwks/local.test.ts';

  before(async () => {
    idp.keys = [rsKey('rsa-1'), other, ecKey, encKey];
    await idp.start();
    verifier = new JwksVerifier({
      jwksUri: idp.url,
      issuer: 'urn:example:issuer',
      audience: 'chat',
      algorithms: ['RS256', 'PS256', 'ES256'],
      jwks: { cooldownMs: 60_000 },
    });
    await verifier.init();
  });
  after(() => idp.stop());

  const verify = async (candidate: string) => verifier.verify(candidate);

  it('control: RS256 and ES256 by kid, through jose and then synchronously', async () => {
    for (const [header, signer] of [
      [{ kid: 'rsa-1' }, SIGNERS.RS256],
      [{ alg: 'ES256', kid: 'ec-1' }, SIGNERS.ES256],
      [{ kid: 'rsa-2' }, (input: string) => sign('sha256', Buffer.from(input), otherRsa.privateKey)],
    ] as const) {
      for (let round = 0; round < 2; round += 1) assert.equal((await verify(rs(header, claims(), signer))).iss, 'urn:example:issuer');
    }
  });

  const JWKS_CASES: Array<[string, string, () => string, string?]> = [
    [JOSE_LOCAL, 'a numeric kid', () => rs({ kid: 1 })],
    [JOSE_LOCAL, 'a null kid', () => rs({ kid: null })],
    [JOSE_LOCAL, 'an object kid', () => rs({ kid: { toString: 'rsa-1' } })],
    [JOSE_LOCAL, 'an array kid', () => rs({ kid: ['rsa-1'] })],
    [JOSE_LOCAL, 'an unknown kid', () => rs({ kid: 'rsa-9' })],
    [JOSE_LOCAL, 'a kid differing in case', () => rs({ kid: 'RSA-1' })],
    [JOSE_LOCAL, 'kid "__proto__"', () => rs({ kid: '__proto__' })],
    [JOSE_LOCAL, 'no kid while several RSA keys match', () => rs({})],
    [JOSE_LOCAL, 'the kid of a key for encryption (use "enc")', () => rs({ kid: 'rsa-enc' })],
    [JOSE_LOCAL, 'PS256 naming a key whose JWK alg is RS256', () => rs({ alg: 'PS256', kid: 'rsa-1' }, claims(), SIGNERS.PS256)],
    [JOSE_LOCAL, 'RS256 naming the EC key', () => rs({ kid: 'ec-1' })],
    [JOSE_LOCAL, 'ES256 naming an RSA key', () => rs({ alg: 'ES256', kid: 'rsa-1' }, claims(), SIGNERS.ES256)],
    [ISSUE, "the other key's kid over this key's signature", () => rs({ kid: 'rsa-2' })],
    [
      JWT_MALICIOUS,
      'HS256 keyed with the JWK of a listed key',
      () => rs({ alg: 'HS256', kid: 'rsa-1' }, claims(), hmac('sha256', JSON.stringify(rsKey('rsa-1').publicJwk))),
    ],
    [JWT_MALICIOUS, 'HS256 keyed with the PEM of a listed key', () => rs({ alg: 'HS256', kid: 'rsa-1' }, claims(), hmac('sha256', pem(rsa.publicKey)))],
    [JOSE_UNSECURED, 'alg none with a kid', () => raw({ alg: 'none', kid: 'rsa-1' }, claims(), '')],
    [
      JOSE_VERIFY,
      'RS512 by the right key (not pinned)',
      () => rs({ alg: 'RS512', kid: 'rsa-1' }, claims(), (input) => sign('sha512', Buffer.from(input), rsa.privateKey)),
    ],
    [JOSE_VERIFY, 'ES256 with a DER signature', () => rs({ alg: 'ES256', kid: 'ec-1' }, claims(), ecdsa('ES256', 'der'))],
    [JOSE_CRIT, 'crit naming an unknown extension', () => rs({ kid: 'rsa-1', crit: ['urn:x'], 'urn:x': 1 })],
    [JOSE_CRIT, 'crit empty', () => rs({ kid: 'rsa-1', crit: [] })],
    [JOSE_B64, 'b64 false without crit', () => rs({ kid: 'rsa-1', b64: false })],
    [
      JOSE_BASE64URL,
      'a payload with non-zero trailing bits',
      () => {
        const good = until(
          (attempt) => rs({ kid: 'rsa-1' }, { ...claims(), jti: `t${attempt}` }),
          (made) => made.split('.')[1].length % 4 >= 2 && ALPHABET.indexOf(made.split('.')[1].at(-1)!) % 2 === 0,
        );
        const [header, payload] = good.split('.');
        return signedSegments(header, dirtyTail(payload), SIGNERS.RS256);
      },
    ],
    [JOSE_VERIFY, 'a payload that is an array', () => rs({ kid: 'rsa-1' }, [claims()])],
    [ISSUE, 'exp of 1e309', () => rs({ kid: 'rsa-1' }, '{"iss":"urn:example:issuer","aud":"chat","exp":1e309}')],
    [JWT_EXP, 'an expired token', () => rs({ kid: 'rsa-1' }, { ...claims(), exp: Math.floor(Date.now() / 1000) - 1 })],
    [JWT_EXP, 'no exp', () => rs({ kid: 'rsa-1' }, { iss: 'urn:example:issuer', aud: 'chat' })],
    [JWT_ISS, 'no iss', () => rs({ kid: 'rsa-1' }, { aud: 'chat', exp: Math.floor(Date.now() / 1000) + 60 })],
    [JWT_AUD, 'an aud array with a non-string beside a match', () => rs({ kid: 'rsa-1' }, { ...claims(), aud: [1, 'chat'] })],
    [ISSUE, 'RS256 with its leading zero byte stripped', () => leadingZeroStripped({ alg: 'RS256', kid: 'rsa-1' }, SIGNERS.RS256, claims())],
    [
      ISSUE,
      'PS256 with its leading zero byte stripped (rsa-2 has no JWK alg)',
      // jose 6.2.18 admits it; the kept key's check, run after jose, does not.
      () => leadingZeroStripped({ alg: 'PS256', kid: 'rsa-2' }, pss(32, otherRsa.privateKey), claims()),
    ],
  ];

  for (const [source, name, make, todo] of JWKS_CASES) {
    it(`${source}: ${name}, through jose and again once the kid's key is kept`, todo === undefined ? {} : { todo }, async () => {
      const candidate = make();
      await assert.rejects(verify(candidate), refused);
      // rsa-1 and ec-1 are kept by now (the control ran first): the synchronous path answers alike.
      await assert.rejects(verify(candidate), refused);
    });
  }
});
