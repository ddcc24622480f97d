// `npm run check:package`: what a user installs, checked the way their tools will read it.
// Packs once (npm pack runs prepack, so dist/ is built fresh), then lints that tarball with
// publint (package.json fields against the files really shipped) and arethetypeswrong (how
// TypeScript resolves each entry point under node10, node16 from CJS and ESM, and bundler).
//
// One attw rule is ignored, on purpose: cjs-resolves-to-esm. The package is ESM-only and
// CommonJS apps load it with require(esm), which Node enables by default from 20.19 and 22.12
// (our engines floor) and TypeScript understands from 5.8 with `module: node20`/`nodenext`;
// attw's bundled TypeScript predates that and still calls it an error. The lib graph has no
// top-level await (require(esm) would throw on one), and test/nest11's CommonJS consumer
// require()s the packed package on every test run. Every other problem, for every resolution
// mode, fails the check.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const scratch = mkdtempSync(path.join(tmpdir(), 'nestjs-ws-auth-check-'));
const run = (file, args) => execFileSync(file, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], shell: process.platform === 'win32' });

try {
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' }),
  );
  const tarball = path.join(scratch, packed.filename);
  console.log(`Packed ${packed.filename}: ${packed.entryCount} files, ${Math.round(packed.size / 1024)} kB`);
  run(bin('publint'), ['run', tarball, '--strict']);
  run(bin('attw'), [tarball, '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'table-flipped']);
} catch (error) {
  if (error.status === undefined) throw error;
  process.exitCode = error.status || 1;
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
