// The Nest 11 run: the same compiled e2e suite as the root run, on a second install of Nest 11
// (CommonJS) held in this folder, then two apps on the packed package, each in a plain process:
// a CommonJS Nest 11 app that require()s it (cjs-consumer/) and an ESM Nest 12 app that imports
// it (test/consumers/esm-nest12/). Before it, the packed types are compiled in both apps
// (test/consumers/type-check.mjs), since a user with `skipLibCheck: false` checks them all.
//
//   npm run test:nest11                         # every .build/test/e2e/*.e2e.js (compile first)
//   npm run test:nest11 -- .build/test/e2e/x.e2e.js   # only those, and no consumer type checks
//
// How project code gets Nest 11: see use-nest11.mjs and nest11-redirect.mjs.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { consumers, typeCheckConsumers } from '../consumers/type-check.mjs';

const harness = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(harness, '../..');
const started = Date.now();

installNest11();
packForTheConsumers();
const chosenFiles = process.argv.slice(2);
if (chosenFiles.length === 0) typeCheckTheConsumers();
const testFiles = chosenFiles.length > 0 ? chosenFiles : allTestFiles();
announce(testFiles, (Date.now() - started) / 1000);

const run = spawnSync(process.execPath, ['--import', './test/nest11/use-nest11.mjs', '--test', '--test-reporter=spec', ...testFiles], {
  cwd: root,
  stdio: 'inherit',
});
// Nothing printed after the runner: its summary stays the last lines CI reads.
process.exit(run.status ?? 1);

// npm ci only when the lock changed since the last install: a fresh clone has no node_modules.
function installNest11() {
  const lockHash = createHash('sha256')
    .update(readFileSync(path.join(harness, 'package-lock.json')))
    .digest('hex');
  const marker = path.join(harness, 'node_modules', '.installed-lock-sha256');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === lockHash) return;
  console.log('Installing Nest 11 into test/nest11 (npm ci)...');
  npm(['ci', '--no-audit', '--no-fund'], harness);
  writeFileSync(marker, lockHash);
}

// What a user installs: `npm pack` (its prepack builds dist/), unpacked as npm would into each
// consumer's node_modules, where both its type check and its app find it.
function packForTheConsumers() {
  const scratch = mkdtempSync(path.join(tmpdir(), 'nestjs-ws-auth-pack-'));
  try {
    npm(['pack', '--pack-destination', scratch], root, { quiet: true });
    const tarball = readdirSync(scratch).find((name) => name.endsWith('.tgz'));
    for (const { dir } of consumers) {
      const target = path.join(dir, 'node_modules', 'nestjs-ws-auth');
      rmSync(target, { recursive: true, force: true });
      mkdirSync(target, { recursive: true });
      exec('tar', ['-xzf', path.join(scratch, tarball), '-C', target, '--strip-components=1'], root);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// Stops the run before the e2e suite: a package whose types do not compile is broken for users
// however well it behaves.
function typeCheckTheConsumers() {
  try {
    for (const line of typeCheckConsumers()) console.log(line);
  } catch (error) {
    fail(error.message);
  }
}

function allTestFiles() {
  const e2eDir = path.join(root, '.build', 'test', 'e2e');
  const e2e = existsSync(e2eDir)
    ? readdirSync(e2eDir)
        .filter((name) => name.endsWith('.e2e.js'))
        .sort()
    : [];
  if (e2e.length === 0) fail('no compiled e2e files in .build/test/e2e: run `npm run build:test` first');
  return [
    'test/nest11/nest-under-test.test.mjs',
    ...e2e.map((name) => `.build/test/e2e/${name}`),
    'test/nest11/cjs-consumer/cjs-consumer.test.cjs',
    'test/consumers/esm-nest12/esm-consumer.test.mjs',
  ];
}

function announce(files, preparedSeconds) {
  const version = (name) => JSON.parse(readFileSync(path.join(harness, 'node_modules', name, 'package.json'), 'utf8')).version;
  const nest = ['core', 'common', 'websockets', 'platform-ws'].map((name) => `@nestjs/${name} ${version(`@nestjs/${name}`)}`);
  console.log(`\nNest 11 run (CommonJS, test/nest11/node_modules): ${nest.join(', ')}`);
  console.log(`${files.length} test files; install check, npm pack and type checks took ${preparedSeconds.toFixed(1)} s\n`);
}

function npm(args, cwd, options) {
  exec('npm', args, cwd, options);
}

function exec(command, args, cwd, { quiet = false } = {}) {
  const result = spawnSync(command, args, { cwd, stdio: quiet ? 'pipe' : 'inherit', encoding: 'utf8' });
  if (result.status !== 0) {
    if (quiet) process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    fail(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit ${result.status}`})`);
  }
}

function fail(message) {
  console.error(`test:nest11: ${message}`);
  process.exit(1);
}
