import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: number | null | undefined;

/**
 * The major version of the @nestjs/websockets this library runs against, or undefined.
 * Read from its package.json next to the resolved entry point: its exports map does not
 * expose package.json on Nest 12, and deep imports differ between majors.
 */
export function websocketsMajorVersion(): number | undefined {
  if (cached === undefined) cached = readMajor();
  return cached ?? undefined;
}

function readMajor(): number | null {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve('@nestjs/websockets')));
    for (let depth = 0; depth < 4; depth++, dir = dirname(dir)) {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (manifest.name === '@nestjs/websockets') return Number.parseInt(manifest.version ?? '', 10) || null;
      } catch {
        // not this folder
      }
    }
  } catch {
    // unresolvable: unknown version
  }
  return null;
}
