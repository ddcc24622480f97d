// Proves, inside the same run as the e2e files, that project code really runs on Nest 11:
// the adapter compiled into .build/ must extend the WsAdapter class of this folder's
// CommonJS @nestjs/platform-ws, not the root's Nest 12 one.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { WsAuthAdapter } from '../../.build/lib/index.js';

const nest11 = createRequire(import.meta.url);
const coreVersion = nest11('@nestjs/core/package.json').version;

test(`project code in .build runs on @nestjs/core ${coreVersion} (CommonJS)`, () => {
  for (const name of ['core', 'common', 'websockets', 'platform-ws']) {
    const { version } = nest11(`@nestjs/${name}/package.json`);
    assert.match(version, /^11\./, `@nestjs/${name} ${version}`);
  }
  assert.equal(Object.getPrototypeOf(WsAuthAdapter), nest11('@nestjs/platform-ws').WsAdapter);
});
