// The packed package's types as an app sees them: each consumer folder holds a small app written
// the way its Nest major's users write one, and `tsc` checks it with `strict` and
// `skipLibCheck: false`, so every published .d.ts it reaches is checked against that Nest.
// test/nest11/run.mjs unpacks the tarball into each consumer's node_modules, then calls this.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const nest11 = path.join(root, 'test', 'nest11');

/**
 * Where each consumer lives decides which Nest its imports reach: node resolution walks up from
 * the app's folder, so the Nest 11 one finds test/nest11/node_modules before the root's Nest 12.
 * The Nest 11 app is compiled by TypeScript 5 (what Nest 11 apps use), the Nest 12 one by ours.
 */
export const consumers = [
  {
    name: 'Nest 11 CommonJS consumer',
    dir: path.join(nest11, 'cjs-consumer'),
    nestModules: path.join(nest11, 'node_modules'),
    typescript: path.join(nest11, 'node_modules', 'typescript'),
  },
  {
    name: 'Nest 12 ESM consumer',
    dir: path.join(root, 'test', 'consumers', 'esm-nest12'),
    nestModules: path.join(root, 'node_modules'),
    typescript: path.join(root, 'node_modules', 'typescript'),
  },
];

/** Runs every check; answers one line per consumer, or throws with what a user would see. */
export function typeCheckConsumers() {
  return consumers.map((consumer) => {
    const packageDir = path.join(consumer.dir, 'node_modules', 'nestjs-ws-auth');
    checkPublishedImports(packageDir);
    return typeCheck(consumer, packageDir);
  });
}

/**
 * Every module the published types import must reach the app through the manifest: a required
 * peer, or a dependency (the package itself or its @types). The compile cannot prove this on its
 * own: inside this repository a missing one is still found in the root node_modules.
 */
export function checkPublishedImports(packageDir) {
  const manifest = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8'));
  const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
  const requiredPeers = new Set(Object.keys(manifest.peerDependencies ?? {}).filter((name) => !manifest.peerDependenciesMeta?.[name]?.optional));
  const problems = [];
  for (const file of declarationFiles(packageDir)) {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|<reference\s+types=)["']([^"']+)["']/g)].map((m) => m[1]);
    for (const specifier of new Set(specifiers)) {
      // Node's own modules come with @types/node, which @types/ws depends on and every Nest app has.
      if (specifier.startsWith('.') || isBuiltin(specifier)) continue;
      const name = packageName(specifier);
      if (requiredPeers.has(name) || dependencies.has(name) || dependencies.has(typesPackageOf(name))) continue;
      problems.push(
        `${path.relative(packageDir, file)} imports '${specifier}', but neither '${name}' nor '${typesPackageOf(name)}' ` +
          `is a dependency or a required peer dependency: an app without it gets TS7016 or TS2307`,
      );
    }
  }
  if (problems.length > 0) throw new Error(`the published types import what a consumer does not get:\n  ${problems.join('\n  ')}`);
}

function typeCheck(consumer, packageDir) {
  const started = Date.now();
  const tsc = path.join(consumer.typescript, 'bin', 'tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', path.join(consumer.dir, 'tsconfig.json'), '--listFiles'], {
    cwd: consumer.dir,
    encoding: 'utf8',
  });
  const lines = `${run.stdout ?? ''}${run.stderr ?? ''}`.split(/\r?\n/).filter(Boolean);
  const files = lines.filter((line) => path.isAbsolute(line) && existsSync(line));
  const diagnostics = lines.filter((line) => !files.includes(line));
  if (run.status !== 0) {
    throw new Error(`${consumer.name} does not compile (tsc -p ${path.relative(root, consumer.dir)}):\n${diagnostics.join('\n')}`);
  }
  // A passing compile proves nothing if it checked the wrong Nest or the repository's own build.
  const nestFiles = files.filter((file) => file.includes(`${path.sep}@nestjs${path.sep}`));
  const foreignNest = nestFiles.filter((file) => !file.startsWith(path.join(consumer.nestModules, '@nestjs') + path.sep));
  if (nestFiles.length === 0 || foreignNest.length > 0) {
    throw new Error(`${consumer.name} must see only ${path.relative(root, consumer.nestModules)}'s Nest; it read:\n${foreignNest.join('\n')}`);
  }
  const packed = files.filter((file) => file.startsWith(packageDir + path.sep));
  if (!packed.some((file) => file.endsWith(path.join('dist', 'lib', 'index.d.ts')))) {
    throw new Error(`${consumer.name} did not read the packed package's types from ${path.relative(root, packageDir)}`);
  }
  const version = (dir) => JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  return (
    `${consumer.name} type-checks: ${packed.length} published .d.ts files, TypeScript ${version(consumer.typescript)}, ` +
    `@nestjs/common ${version(path.join(consumer.nestModules, '@nestjs', 'common'))} (${((Date.now() - started) / 1000).toFixed(1)} s)`
  );
}

function declarationFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.d\.[cm]?ts$/.test(entry.name))
    .filter((entry) => !path.relative(dir, entry.parentPath).split(path.sep).includes('node_modules'))
    .map((entry) => path.join(entry.parentPath, entry.name));
}

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

function typesPackageOf(name) {
  return name.startsWith('@') ? `@types/${name.slice(1).replace('/', '__')}` : `@types/${name}`;
}
