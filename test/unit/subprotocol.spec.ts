import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCredentialProtocol, selectableProtocols, splitProtocols } from '../../lib/handshake/subprotocol.js';

describe('isCredentialProtocol', () => {
  it('recognises bearer.<token> in any case', () => {
    assert.equal(isCredentialProtocol('bearer.a.b.c'), true);
    assert.equal(isCredentialProtocol('Bearer.a.b.c'), true);
    assert.equal(isCredentialProtocol('BEARER.'), true);
  });

  it('leaves other protocols alone', () => {
    for (const protocol of ['bearer', 'chat.v1', 'xbearer.a', 'bearer-a', 'access_token.a', '']) {
      assert.equal(isCredentialProtocol(protocol), false, protocol);
    }
  });
});

describe('selectableProtocols', () => {
  // ws would otherwise answer with the first offered protocol and echo the token back.
  it('removes every credential entry and keeps the others in the offered order', () => {
    const offered = new Set(['bearer.secret', 'chat.v2', 'Bearer.other', 'chat.v1']);
    assert.deepEqual([...selectableProtocols(offered)], ['chat.v2', 'chat.v1']);
  });

  it('is empty when only a credential was offered', () => {
    assert.equal(selectableProtocols(['bearer.secret']).size, 0);
    assert.equal(selectableProtocols([]).size, 0);
  });
});

describe('splitProtocols', () => {
  it('splits the header on commas, trimming and dropping empty entries', () => {
    assert.deepEqual(splitProtocols(' chat.v1 ,bearer.a.b.c,, '), ['chat.v1', 'bearer.a.b.c']);
    assert.deepEqual(splitProtocols(undefined), []);
    assert.deepEqual(splitProtocols(''), []);
  });
});
