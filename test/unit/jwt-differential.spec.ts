import assert from 'node:assert/strict';
import { constants, createHmac, createSecretKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import type { WsAuthJwtOptions, WsJwtAlgorithm } from '../../lib/index.js';
import { signatureCheck } from '../../lib/jwt/jws-signature.js';
import { JwtVerifier } from '../../lib/jwt/jwt-verifier.js';

/*
 * JwtVerifier against jose's jwtVerify, on the same key, the same pinned options and the same
 * (pinned) clock, over a few thousand mutated tokens from a seeded generator. Where our
 * verifier is stricter on purpose the difference is named (`Stricter`); any other
 * disagreement, or different claims, is a finding.
 */

type Jose = typeof import('jose');
let jose: Jose | undefined;
try {
  jose = (await import('jose' as string)) as Jose;
} catch {
  jose = undefined;
}

const SEED = 0x5eed_0014;
const CASES_PER_KEY = 1100;
const SECOND = 1_900_000_000;
const ISSUER = 'urn:example:issuer';
const AUDIENCE = 'chat';
const secret = 'differential-secret-0123456789-abcdefghijklmnopqrstuvwxyz';

/** mulberry32: small, seeded, the same sequence on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const b64 = (bytes: string | Buffer) => Buffer.from(bytes).toString('base64url');
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherP256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }) as string;

type Signer = (input: string) => Buffer;
const hmac =
  (hash: string, key: string | Buffer): Signer =>
  (input) =>
    createHmac(hash, key).update(input).digest();
const SIGNERS: Record<string, Signer> = {
  HS256: hmac('sha256', secret),
  HS384: hmac('sha384', secret),
  HS512: hmac('sha512', secret),
  RS256: (input) => sign('sha256', Buffer.from(input), rsa.privateKey),
  RS384: (input) => sign('sha384', Buffer.from(input), rsa.privateKey),
  PS256: (input) => sign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }),
  ES256: (input) => sign('sha256', Buffer.from(input), { key: p256.privateKey, dsaEncoding: 'ieee-p1363' }),
  'other HS256': hmac('sha256', `${secret}!`),
  'RSA PEM as HS256': hmac('sha256', pem(rsa.publicKey)),
  'other RS256': (input) => sign('sha256', Buffer.from(input), otherRsa.privateKey),
  'other ES256': (input) => sign('sha256', Buffer.from(input), { key: otherP256.privateKey, dsaEncoding: 'ieee-p1363' }),
  'ES256 DER': (input) => sign('sha256', Buffer.from(input), { key: p256.privateKey, dsaEncoding: 'der' }),
};

interface Subject {
  readonly alg: WsJwtAlgorithm;
  readonly ours: WsAuthJwtOptions;
  readonly joseKey: () => Promise<unknown>;
}

const SUBJECTS: readonly Subject[] = [
  { alg: 'HS256', ours: { secret }, joseKey: async () => new TextEncoder().encode(secret) },
  { alg: 'RS256', ours: { publicKey: pem(rsa.publicKey), algorithms: ['RS256'] }, joseKey: () => jose!.importSPKI(pem(rsa.publicKey), 'RS256') },
  { alg: 'ES256', ours: { publicKey: pem(p256.publicKey) }, joseKey: () => jose!.importSPKI(pem(p256.publicKey), 'ES256') },
];

/** A token as the generator left it, and why our verifier may refuse what jose admits. */
interface Mutant {
  readonly token: string;
  readonly mutation: string;
  /** Set when our verifier refuses on purpose what jose may admit. */
  readonly stricter?: string;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function mutants(subject: Subject, random: () => number, count: number): Mutant[] {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];
  const baseHeader = () => ({ alg: subject.alg, typ: 'JWT' });
  const baseClaims = () => ({ sub: `u${Math.floor(random() * 1000)}`, iss: ISSUER, aud: AUDIENCE, iat: SECOND - 10, exp: SECOND + 60 });
  const signWith = (header: string, payload: string, signer: Signer = SIGNERS[subject.alg]) => `${header}.${payload}.${b64(signer(`${header}.${payload}`))}`;
  const signed = (header: unknown, claims: unknown, signer?: Signer) =>
    signWith(b64(typeof header === 'string' ? header : JSON.stringify(header)), b64(typeof claims === 'string' ? claims : JSON.stringify(claims)), signer);

  const flipByte = (segment: string): string => {
    const bytes = Buffer.from(segment, 'base64url');
    if (bytes.length === 0) return segment;
    const at = Math.floor(random() * bytes.length);
    bytes[at] ^= 1 << Math.floor(random() * 8);
    return b64(bytes);
  };

  const generators: Array<() => Mutant> = [
    () => ({ token: signed(baseHeader(), baseClaims()), mutation: 'control' }),
    () => {
      const segments = signed(baseHeader(), baseClaims()).split('.');
      const index = Math.floor(random() * 3);
      segments[index] = flipByte(segments[index]);
      return { token: segments.join('.'), mutation: `flip a byte of segment ${index}, signature kept` };
    },
    () => {
      // Flipped, then signed again: the parse rules see bytes no signer meant.
      const [header, payload] = signed(baseHeader(), baseClaims()).split('.');
      const index = random() < 0.5 ? 0 : 1;
      const flipped = index === 0 ? [flipByte(header), payload] : [header, flipByte(payload)];
      return { token: signWith(flipped[0], flipped[1]), mutation: `flip a byte of segment ${index}, signed again` };
    },
    () => {
      const alg = pick<unknown>(['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'PS256', 'ES256', 'EdDSA', 'none', 'None', '', null, 256, undefined]);
      const signer = typeof alg === 'string' && SIGNERS[alg] && random() < 0.7 ? SIGNERS[alg] : SIGNERS[subject.alg];
      return { token: signed({ ...baseHeader(), alg }, baseClaims(), signer), mutation: `alg ${JSON.stringify(alg)}` };
    },
    () => {
      const [name, value, stricter] = pick<[string, unknown, string?]>([
        ['kid', 'k1'],
        ['jku', 'https://attacker.example/jwks'],
        ['x5u', 'https://attacker.example/cert'],
        ['cty', 'JWT'],
        ['typ', 'at+jwt'],
        ['typ', 'topic+jwt', 'a topic token is no access token (RFC 8725 section 3.11)'],
        ['crit', ['b64'], 'crit refused entirely'],
        ['crit', [], 'crit refused entirely'],
        ['crit', ['urn:x'], 'crit refused entirely'],
        ['b64', false, 'b64:false refused without crit'],
        ['b64', true],
        ['urn:example:param', { nested: [1, 2] }],
      ]);
      const header: Record<string, unknown> = { ...baseHeader(), [name]: value };
      if (name === 'crit' && Array.isArray(value) && value.includes('b64')) header.b64 = true;
      return { token: signed(header, baseClaims()), mutation: `header ${name} ${JSON.stringify(value)}`, stricter };
    },
    () => {
      const remove = pick(['alg', 'typ']);
      const header: Record<string, unknown> = baseHeader();
      delete header[remove];
      return { token: signed(header, baseClaims()), mutation: `header without ${remove}` };
    },
    () => {
      const claim = pick(['exp', 'nbf', 'iat']);
      const value = SECOND + Math.floor(random() * 9) - 4;
      return { token: signed(baseHeader(), { ...baseClaims(), [claim]: value }), mutation: `${claim} now${value - SECOND >= 0 ? '+' : ''}${value - SECOND}` };
    },
    () => {
      const claim = pick(['exp', 'nbf', 'iat']);
      const [literal, stricter] = pick<[string, string?]>([
        ['null'],
        ['"1900000100"'],
        ['true'],
        ['[]'],
        ['1e309', 'dates are finite'],
        ['-1e309', 'dates are finite'],
        ['8640000000001', 'dates are within ECMAScript time'],
        ['-1'],
        ['0'],
        [`${SECOND}.5`],
      ]);
      const claims = JSON.stringify({ ...baseClaims(), [claim]: '@' }).replace('"@"', literal);
      return { token: signed(baseHeader(), claims), mutation: `${claim} ${literal}`, stricter };
    },
    () => {
      const [change, stricter] = pick<[Record<string, unknown>, string?]>([
        [{ iss: 'urn:wrong' }],
        [{ iss: undefined }],
        [{ iss: [ISSUER] }],
        [{ aud: 'other' }],
        [{ aud: undefined }],
        [{ aud: ['other', AUDIENCE] }],
        [{ aud: [] }],
        [{ aud: [1, AUDIENCE] }, 'aud members are strings (RFC 7519 section 4.1.3)'],
        [{ sub: 1 }, 'sub is a string'],
        [{ exp: undefined }],
      ]);
      return { token: signed(baseHeader(), { ...baseClaims(), ...change }), mutation: `claims ${JSON.stringify(change)}`, stricter };
    },
    () => {
      const segments = signed(baseHeader(), baseClaims()).split('.');
      const index = Math.floor(random() * 3);
      const how = pick(['padding', 'standard alphabet', 'trailing bits', 'space']);
      let segment = segments[index];
      if (how === 'padding') segment += '='.repeat((4 - (segment.length % 4)) % 4 || 1);
      else if (how === 'standard alphabet') segment = segment.replaceAll('-', '+').replaceAll('_', '/');
      else if (how === 'trailing bits' && segment.length % 4 >= 2) segment = segment.slice(0, -1) + ALPHABET[ALPHABET.indexOf(segment.at(-1)!) | 1];
      else if (how === 'space') segment = `${segment.slice(0, 2)} ${segment.slice(2)}`;
      segments[index] = segment;
      const token = index === 2 ? segments.join('.') : signWith(segments[0], segments[1]);
      return { token, mutation: `segment ${index} ${how}`, stricter: 'one base64url spelling per token' };
    },
    () => {
      const signer = pick(['other HS256', 'RSA PEM as HS256', 'other RS256', 'other ES256', 'ES256 DER', 'HS256', 'RS256', 'ES256']);
      return { token: signed(baseHeader(), baseClaims(), SIGNERS[signer]), mutation: `signed by ${signer}` };
    },
    () => {
      const shape = pick(['[]', '"text"', '1', 'null', '{']);
      return random() < 0.5
        ? { token: signed(baseHeader(), shape), mutation: `payload ${shape}` }
        : { token: signed(shape, baseClaims()), mutation: `header ${shape}` };
    },
  ];
  return Array.from({ length: count }, () => pick(generators)());
}

const isNotUtf8 = (token: string) =>
  token
    .split('.')
    .slice(0, 2)
    .some((segment) => {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(segment, 'base64url'));
        return false;
      } catch {
        return true;
      }
    });

interface Outcome {
  readonly subject: string;
  readonly mutation: string;
  readonly token: string;
  readonly ours: unknown;
  readonly theirs: unknown;
}

describe(
  'JwtVerifier against jose jwtVerify, same keys and options',
  { skip: jose === undefined ? 'jose is not installed: the differential test cannot run' : false },
  () => {
    if (jose === undefined) console.warn('SKIPPED: jwt-differential needs the optional dependency "jose" in node_modules.');
    const agreed: Outcome[] = [];
    const stricter: Outcome[] = [];
    const notUtf8: Outcome[] = [];
    const findings: Outcome[] = [];

    it(`compares ${CASES_PER_KEY} mutants per key type (seed ${SEED.toString(16)})`, async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: SECOND * 1000 });
      const random = prng(SEED);
      for (const subject of SUBJECTS) {
        const ours = new JwtVerifier({ ...subject.ours, issuer: ISSUER, audience: AUDIENCE }, 0);
        const key = await subject.joseKey();
        for (const { token, mutation, stricter: why } of mutants(subject, random, CASES_PER_KEY)) {
          let mine: unknown;
          let theirs: unknown;
          try {
            mine = ours.verify(token);
          } catch (error) {
            mine = `refused (${(error as { reason?: string }).reason})`;
          }
          try {
            theirs = (
              await jose!.jwtVerify(token, key as Uint8Array, {
                algorithms: [subject.alg],
                issuer: ISSUER,
                audience: AUDIENCE,
                requiredClaims: ['exp'],
              })
            ).payload;
          } catch (error) {
            theirs = `refused (${(error as { code?: string }).code})`;
          }
          const outcome = { subject: subject.alg, mutation, token, ours: mine, theirs };
          const oursAccepted = typeof mine === 'object';
          const theirsAccepted = typeof theirs === 'object';
          if (oursAccepted === theirsAccepted && (!oursAccepted || isDeepEqual(mine, theirs))) agreed.push(outcome);
          else if (why !== undefined && !oursAccepted) stricter.push(outcome);
          else if (oursAccepted && !theirsAccepted && isNotUtf8(token)) notUtf8.push(outcome);
          else findings.push(outcome);
        }
      }
      const controls = agreed.filter((outcome) => outcome.mutation === 'control' && typeof outcome.ours === 'object');
      assert.ok(controls.length > 30, 'valid controls were admitted by both');
      assert.ok(agreed.length + stricter.length + notUtf8.length + findings.length === SUBJECTS.length * CASES_PER_KEY);
      t.diagnostic(`agreed ${agreed.length}, stricter by design ${stricter.length}, not UTF-8 ${notUtf8.length}, unexplained ${findings.length}`);
    });

    it('no disagreement outside the named stricter rules', () => {
      assert.deepEqual(
        findings.slice(0, 5).map(({ subject, mutation, token, ours, theirs }) => ({ subject, mutation, token, ours, theirs })),
        [],
      );
    });

    it('each stricter rule the generator names was exercised and refused only by us', () => {
      const rules = new Set(stricter.map(({ mutation }) => mutation.split(' ')[0]));
      for (const kind of ['segment', 'header']) assert.ok(rules.has(kind), `no ${kind} case reached a stricter rule`);
    });

    it('refuses segments that are not UTF-8, as jose does', () => {
      assert.deepEqual(
        notUtf8.slice(0, 3).map(({ mutation, token }) => ({ mutation, token })),
        [],
      );
    });
  },
);

function isDeepEqual(left: unknown, right: unknown): boolean {
  try {
    assert.deepStrictEqual(left, right);
    return true;
  } catch {
    return false;
  }
}

describe('the HMAC from precomputed pads against createHmac', () => {
  it('gives the same bytes for keys of 0 to 200 bytes and inputs of many lengths, for HS256/384/512', () => {
    const random = prng(SEED + 1);
    const bytes = (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    const text = (length: number) => Array.from({ length }, () => ALPHABET[Math.floor(random() * 64)]).join('');
    let compared = 0;
    for (const [alg, hash] of [
      ['HS256', 'sha256'],
      ['HS384', 'sha384'],
      ['HS512', 'sha512'],
    ] as const) {
      for (let length = 0; length <= 200; length += 1) {
        const key = bytes(length);
        const check = signatureCheck(alg, createSecretKey(key));
        // The same check answers several inputs in turn: its reused buffers must not carry one into the next.
        for (const inputLength of [0, 1, 63, 64, 65, 127, 128, 129, Math.floor(random() * 600)]) {
          const input = `${text(inputLength)}.${text(Math.floor(random() * 40))}`;
          const expected = createHmac(hash, key).update(input).digest();
          // The check takes the signature as sent, base64url; it compares text, never decoding it.
          assert.equal(check(input, expected.toString('base64url')), true, `${alg}, key of ${length} bytes, input of ${input.length}`);
          const wrong = Buffer.from(expected);
          wrong[Math.floor(random() * wrong.length)] ^= 1 << Math.floor(random() * 8);
          assert.equal(check(input, wrong.toString('base64url')), false);
          assert.equal(check(input, expected.subarray(0, -1).toString('base64url')), false);
          assert.equal(check(input, `${expected.toString('base64url')}A`), false);
          compared += 1;
        }
      }
    }
    assert.equal(compared, 3 * 201 * 9);
  });
});
