import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTopicName, isTopicPattern, patternCovers, TopicPolicies } from '../../lib/topics/topic-patterns.js';
import { topicMessageOf } from '../../lib/topics/ws-topic-bus.js';

const allow = () => true;

describe('topic names', () => {
  it('accepts 1 to 200 printable characters', () => {
    for (const topic of ['a', 'doc:42', 'room/with spaces', 'é', 'x'.repeat(200), 'a*b']) assert.equal(isTopicName(topic), true, topic);
  });

  it('refuses empty, too long, control characters and non-strings', () => {
    for (const topic of ['', 'x'.repeat(201), 'a\nb', 'a\u0000', 'a\u007f', 'a\u0085', 42, null, undefined, ['doc'], { topic: 'doc' }]) {
      assert.equal(isTopicName(topic), false, JSON.stringify(topic));
    }
  });
});

describe('topic patterns', () => {
  it('reads an exact topic, a prefix with one trailing *, or * alone', () => {
    for (const pattern of ['doc:1', 'doc:*', '*', 'x'.repeat(200), `${'x'.repeat(200)}*`]) assert.equal(isTopicPattern(pattern), true, pattern);
  });

  it('refuses a * anywhere but at the end, and what no topic could be', () => {
    for (const pattern of ['', '**', 'doc:**', '*doc', 'doc:*:edit', 'a\tb*', 'x'.repeat(201), `${'x'.repeat(201)}*`, 7]) {
      assert.equal(isTopicPattern(pattern), false, JSON.stringify(pattern));
    }
  });

  it('covers the exact topic, or every topic that starts with the prefix', () => {
    assert.equal(patternCovers('doc:1', 'doc:1'), true);
    assert.equal(patternCovers('doc:1', 'doc:12'), false);
    assert.equal(patternCovers('doc:*', 'doc:12'), true);
    assert.equal(patternCovers('doc:*', 'doc:'), true);
    assert.equal(patternCovers('doc:*', 'docs:1'), false);
    assert.equal(patternCovers('doc:*', 'DOC:1'), false);
    assert.equal(patternCovers('*', 'anything'), true);
    assert.equal(patternCovers('doc:**', 'doc:*x'), false, 'a malformed pattern covers nothing');
  });
});

describe('TopicPolicies', () => {
  const exact = { pattern: 'doc:secret', authorize: () => false };
  const longer = { pattern: 'doc:team:*', authorize: allow };
  const shorter = { pattern: 'doc:*', authorize: allow };
  const everything = { pattern: '*' };
  const policies = new TopicPolicies([shorter, everything, exact, longer]);

  it('lets the exact pattern win over every prefix', () => {
    assert.equal(policies.match('doc:secret'), exact);
  });

  it('lets the longer prefix win over the shorter, whatever the order given', () => {
    assert.equal(policies.match('doc:team:7'), longer);
    assert.equal(policies.match('doc:7'), shorter);
    assert.equal(policies.match('chat'), everything);
  });

  it('matches nothing without a covering pattern', () => {
    const narrow = new TopicPolicies([shorter]);
    assert.equal(narrow.match('chat'), undefined);
    assert.equal(narrow.match('do'), undefined);
    assert.equal(new TopicPolicies().match('doc:1'), undefined);
  });

  it('stops startup on a bad or repeated pattern, or an authorize that is no function', () => {
    for (const [list, message] of [
      [[{ pattern: 'doc:*:x' }], /pattern/],
      [[{ pattern: '' }], /pattern/],
      [[{}], /pattern/],
      [[null], /pattern/],
      [[{ pattern: 'a\nb' }], /pattern/],
      [[{ pattern: 'doc:*' }, { pattern: 'doc:*' }], /twice/],
      [[{ pattern: 'doc:*', authorize: true }], /function/],
    ] as const) {
      assert.throws(() => new TopicPolicies(list as never), message, JSON.stringify(list));
    }
    assert.throws(() => new TopicPolicies('doc:*' as never), /array/);
  });
});

describe('topic bus messages', () => {
  it('keeps a well-formed message', () => {
    assert.deepEqual(topicMessageOf({ origin: 'a', topic: 'doc:1', event: 'say', data: { x: 1 }, extra: 1 }), {
      origin: 'a',
      topic: 'doc:1',
      event: 'say',
      data: { x: 1 },
    });
  });

  it('drops anything malformed', () => {
    for (const message of [
      null,
      'text',
      [],
      { topic: 'doc:1', event: 'say' },
      { origin: '', topic: 'doc:1', event: 'say' },
      { origin: 'a', topic: '', event: 'say' },
      { origin: 'a', topic: 'a\nb', event: 'say' },
      { origin: 'a', topic: 'doc:1', event: '' },
      { origin: 'a', topic: 'doc:1', event: 7 },
    ]) {
      assert.equal(topicMessageOf(message), undefined, JSON.stringify(message));
    }
  });
});
