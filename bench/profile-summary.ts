import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `node .build/bench/profile-summary.js <folder> [top]`: the functions with the most self time
 * in each V8 CPU profile a BENCH_PROFILE run wrote, and the share of library, Nest, ws, fast-jwt,
 * jose and Node's own code, so a missed target points at where the server's CPU went.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const folder = process.argv[2];
const top = Number(process.argv[3] ?? 25);
if (!folder) throw new Error('usage: profile-summary <folder> [top]');

function areaOf(url: string): string {
  if (url === '') return '(native, gc, idle)';
  if (url.startsWith('node:')) return 'node';
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packaged) return packaged[1];
  // Any build folder: `.build` for `npm run bench`, or an engineer's own `.build-<name>`.
  if (/\/\.build[^/]*\/lib\//.test(url)) return 'nestjs-ws-auth';
  if (/\/\.build[^/]*\/bench\//.test(url)) return 'bench server';
  return url;
}

for (const file of readdirSync(folder).filter((name) => name.endsWith('.cpuprofile'))) {
  const profile = JSON.parse(readFileSync(join(folder, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    busy += us;
    const name = `${functionName || '(anonymous)'} ${url.replace(/^.*node_modules\//, '').replace(/^.*\/\.build[^/]*\//, '')}:${lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    const area = functionName === '(garbage collector)' ? 'gc' : areaOf(url);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const share = (us: number) => `${((100 * us) / busy).toFixed(1)}%`;
  console.log(`## ${file}: ${(busy / 1e6).toFixed(2)} s busy (idle and (program) left out)`);
  console.log(
    `- by area: ${[...areas]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => `${area} ${share(us)}`)
      .join(', ')}`,
  );
  for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`- ${share(us)} ${name}`);
  console.log();
}
