import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, it } from 'node:test';
import { hasDuplicateAuthorization, takeCredential, type Credential } from '../../lib/handshake/credential.js';
import { WsRefusal } from '../../lib/refusals/ws-refusal.js';
import { collector } from '../support/collector.js';

const NAMES = { cookieName: 'access_token', queryParam: 'access_token' };
const ALL = ['header', 'subprotocol', 'cookie', 'query'] as const;

/** Only what the readers look at: headers as Node lower-cases them, rawHeaders as sent, url. */
function upgrade(raw: Array<[string, string]> = [], url = '/chat'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of raw) headers[name.toLowerCase()] ??= value;
  return { headers, rawHeaders: raw.flat(), url } as unknown as IncomingMessage;
}

const ambiguous = (error: unknown) => error instanceof WsRefusal && error.reason === 'ambiguous_credential';

describe('takeCredential: which source is THE credential', () => {
  const everywhere = upgrade(
    [
      ['Authorization', 'Bearer from-header'],
      ['Sec-WebSocket-Protocol', 'bearer.from-protocol'],
      ['Cookie', 'access_token=from-cookie'],
    ],
    '/chat?access_token=from-query',
  );

  it('takes the first source present, in the configured order', () => {
    assert.deepEqual(takeCredential(everywhere, ALL, NAMES), { source: 'header', token: 'from-header' });
    assert.deepEqual(takeCredential(everywhere, ['query', 'cookie'], NAMES), { source: 'query', token: 'from-query' });
    assert.deepEqual(takeCredential(everywhere, ['cookie', 'header'], NAMES), { source: 'cookie', token: 'from-cookie' });
    assert.deepEqual(takeCredential(everywhere, ['subprotocol'], NAMES), { source: 'subprotocol', token: 'from-protocol' });
  });

  it('skips sources that are absent and returns nothing when none is present', () => {
    const cookieOnly = upgrade([['Cookie', 'theme=dark; access_token=abc']]);
    assert.deepEqual(takeCredential(cookieOnly, ALL, NAMES), { source: 'cookie', token: 'abc' });
    assert.equal(takeCredential(upgrade([['Cookie', 'theme=dark']]), ALL, NAMES), undefined);
    assert.equal(takeCredential(upgrade(), ALL, NAMES), undefined);
  });

  it('never reads a source that is not configured', () => {
    assert.equal(takeCredential(upgrade([], '/chat?access_token=abc'), ['header', 'cookie'], NAMES), undefined);
    assert.equal(takeCredential(upgrade([['Authorization', 'Bearer abc']]), ['cookie'], NAMES), undefined);
  });

  // A bad first credential must not let the caller fall back to a second one.
  it('keeps a present but unusable header as the credential, with an empty token', () => {
    const basic = upgrade([
      ['Authorization', 'Basic YWxpY2U6cHc='],
      ['Cookie', 'access_token=good'],
    ]);
    assert.deepEqual(takeCredential(basic, ALL, NAMES), { source: 'header', token: '' });
  });

  it('does not look past the first present source, even at an ambiguous one', () => {
    const request = upgrade([
      ['Authorization', 'Bearer abc'],
      ['Cookie', 'access_token=a; access_token=b'],
    ]);
    assert.deepEqual(takeCredential(request, ALL, NAMES), { source: 'header', token: 'abc' });
  });
});

const tokenIn = (credential: Credential | undefined) => (credential && 'token' in credential ? credential.token : undefined);

describe('takeCredential: the Authorization header', () => {
  const tokenOf = (value: string) => tokenIn(takeCredential(upgrade([['Authorization', value]]), ['header'], NAMES));

  it('reads the Bearer scheme case-insensitively, with spaces or tabs around the token', () => {
    assert.equal(tokenOf('Bearer a.b.c'), 'a.b.c');
    assert.equal(tokenOf('bearer a.b.c'), 'a.b.c');
    assert.equal(tokenOf('BEARER \t a.b.c \t'), 'a.b.c');
  });

  it('yields an empty token for anything that is not "Bearer <one token>"', () => {
    for (const value of ['Basic YWxpY2U6cHc=', 'Bearer', 'Bearer ', 'Bearera.b.c', 'Bearer a b', 'Token a.b.c', '', ' Bearer a.b.c']) {
      assert.equal(tokenOf(value), '', JSON.stringify(value));
    }
  });
});

describe('takeCredential: the subprotocol', () => {
  const take = (header: string) => takeCredential(upgrade([['Sec-WebSocket-Protocol', header]]), ['subprotocol'], NAMES);

  it('reads the one bearer.<token> entry among the offered protocols', () => {
    assert.deepEqual(take('chat.v1, bearer.a.b.c'), { source: 'subprotocol', token: 'a.b.c' });
    assert.deepEqual(take('Bearer.a.b.c'), { source: 'subprotocol', token: 'a.b.c' });
  });

  it('is absent when no entry is a credential', () => {
    assert.equal(take('chat.v1, bearer'), undefined);
  });

  it('refuses two credential entries as ambiguous', () => {
    assert.throws(() => take('bearer.one, chat.v1, bearer.two'), ambiguous);
  });
});

describe('takeCredential: the cookie', () => {
  it('reads the named cookie among others, unquoted', () => {
    const take = (cookie: string, names = NAMES) => tokenIn(takeCredential(upgrade([['Cookie', cookie]]), ['cookie'], names));
    assert.equal(take('theme=dark; access_token=abc; lang=en'), 'abc');
    assert.equal(take('access_token="abc"'), 'abc');
    assert.equal(take('my_access_token=abc'), undefined);
    assert.equal(take('session=abc', { ...NAMES, cookieName: 'session' }), 'abc');
  });

  it('refuses two cookies of that name as ambiguous', () => {
    assert.throws(() => takeCredential(upgrade([['Cookie', 'access_token=a; access_token=b']]), ['cookie'], NAMES), ambiguous);
  });
});

describe('takeCredential: the query', () => {
  const take = (url: string, names = NAMES) => takeCredential(upgrade([], url), ['query'], names);

  it('reads the named parameter, decoded', () => {
    assert.deepEqual(take('/chat?x=1&access_token=a.b.c'), { source: 'query', token: 'a.b.c' });
    assert.equal(tokenIn(take('/chat?token=a%2Eb.c', { ...NAMES, queryParam: 'token' })), 'a.b.c');
  });

  it('keeps an empty value as a present, bad credential', () => {
    assert.deepEqual(take('/chat?access_token='), { source: 'query', token: '' });
  });

  it('is absent without a query or without the parameter', () => {
    assert.equal(take('/chat'), undefined);
    assert.equal(take('/chat?token=abc'), undefined);
  });

  it('refuses the parameter given twice as ambiguous', () => {
    assert.throws(() => take('/chat?access_token=a&access_token=b'), ambiguous);
  });
});

describe('hasDuplicateAuthorization', () => {
  it('sees a second Authorization header that Node hides from request.headers', () => {
    assert.equal(
      hasDuplicateAuthorization(
        upgrade([
          ['Authorization', 'Bearer a'],
          ['authorization', 'Bearer b'],
        ]),
      ),
      true,
    );
    assert.equal(
      hasDuplicateAuthorization(
        upgrade([
          ['AUTHORIZATION', 'Bearer a'],
          ['Authorization', 'Bearer a'],
        ]),
      ),
      true,
    );
  });

  it('is false for a single one and ignores look-alike names', () => {
    assert.equal(hasDuplicateAuthorization(upgrade([['Authorization', 'Bearer a']])), false);
    assert.equal(
      hasDuplicateAuthorization(
        upgrade([
          ['Authorization', 'Bearer a'],
          ['X-Authorization', 'b'],
          ['Proxy-Authorization', 'c'],
        ]),
      ),
      false,
    );
    assert.equal(hasDuplicateAuthorization(upgrade()), false);
  });

  it('reads names only, never values that look like names', () => {
    assert.equal(
      hasDuplicateAuthorization(
        upgrade([
          ['Authorization', 'Bearer a'],
          ['X-Note', 'authorization'],
        ]),
      ),
      false,
    );
  });
});

describe('takeCredential: a token read out of a large header keeps only its own characters', () => {
  // 200 tokens, each cut from a header padded to 60 KB with other cookies or protocols: kept as
  // views of their headers they would hold ~12 MB; as copies, ~60 KB.
  const TOKENS = 200;
  const PADDING = 60_000;
  const token = (i: number) => `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.${String(i).padStart(43, 's')}`;
  const cases: Array<[string, (i: number) => IncomingMessage]> = [
    ['cookie', (i) => upgrade([['Cookie', `pad=${'p'.repeat(PADDING)}; access_token=${token(i)}`]])],
    ['subprotocol', (i) => upgrade([['Sec-WebSocket-Protocol', `${'p'.repeat(PADDING)}, bearer.${token(i)}`]])],
  ];

  for (const [source, request] of cases) {
    it(`from the ${source}`, (t) => {
      const gc = collector();
      if (!gc) return t.skip('no way to run the garbage collector here');
      gc();
      const before = process.memoryUsage().heapUsed;
      const kept = Array.from({ length: TOKENS }, (_, i) => takeCredential(request(i), [source as 'cookie' | 'subprotocol'], NAMES));
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      assert.deepEqual(kept[7], { source, token: token(7) });
      assert.ok(grown < (TOKENS * PADDING) / 4, `${TOKENS} tokens hold ${grown} bytes of heap`);
    });
  }
});
