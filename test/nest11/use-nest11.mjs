// Loaded with `node --import` in every process of the Nest 11 run (node --test hands its own
// execArgv to the test files it spawns). Refuses to start unless the copy the hook points at
// really is Nest 11, so a broken install cannot silently run the suite on Nest 12 twice.
import { createRequire, register } from 'node:module';

const { version } = createRequire(import.meta.url)('@nestjs/core/package.json');
if (!version.startsWith('11.')) {
  throw new Error(`test/nest11 must hold @nestjs/core 11.x, found ${version}: run npm ci in test/nest11`);
}
register('./nest11-redirect.mjs', import.meta.url);
