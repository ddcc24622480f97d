import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// Every ```ts and ```js block of README.md is a copy of a region of a file under docs/snippets/,
// named by the HTML comment on the line before it:
//
//   <!-- snippet: docs/snippets/tickets.ts#controller -->
//   ```ts
//
// and those files are type-checked here against lib/ (tsconfig.json of their folder: Node for
// docs/snippets/, the DOM for docs/snippets/browser/). A snippet that stops compiling, or a
// README block edited without its file, fails this test. A region may come in several parts
// with the same name (a class member and a method body, say); they are joined in order, each
// dedented. Blocks in other languages (sh, json) are not code to compile and are skipped.

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SNIPPETS = 'docs/snippets';
const CHECKED = new Map([
  ['ts', ['.ts', '.mts', '.cts']],
  ['js', ['.js', '.mjs', '.cjs']],
]);
const MARKER = /^<!-- snippet: (\S+)#([\w-]+) -->$/;
const REGION = /^\s*\/\/ #region (\S+)\s*$/;
const END_REGION = /^\s*\/\/ #endregion\b/;

interface Block {
  line: number;
  lang: string;
  lines: string[];
  marker?: { file: string; region: string };
  markerLine?: string;
}

function readmeBlocks(): Block[] {
  const lines = readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, lang] = open;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^ *```\s*$/.test(lines[i]); i++) {
      body.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i].trimStart());
    }
    const previous = lines[start - 1]?.trim() ?? '';
    const marker = MARKER.exec(previous);
    blocks.push({
      line: start + 1,
      lang,
      lines: body,
      marker: marker ? { file: marker[1], region: marker[2] } : undefined,
      markerLine: previous.startsWith('<!-- snippet') ? previous : undefined,
    });
  }
  return blocks;
}

/** name -> parts, each part the lines between one `// #region name` and its `// #endregion`. */
function regionsOf(file: string): Map<string, string[][]> {
  const regions = new Map<string, string[][]>();
  const open: { name: string; lines: string[] }[] = [];
  readFileSync(path.join(ROOT, file), 'utf8')
    .split('\n')
    .forEach((line, index) => {
      const start = REGION.exec(line);
      if (start) {
        open.push({ name: start[1], lines: [] });
      } else if (END_REGION.test(line)) {
        const closed = open.pop();
        if (!closed) throw new Error(`${file}:${index + 1}: #endregion without #region`);
        regions.set(closed.name, [...(regions.get(closed.name) ?? []), closed.lines]);
      } else {
        for (const region of open) region.lines.push(line);
      }
    });
  if (open.length > 0) throw new Error(`${file}: #region ${open[0].name} is never closed`);
  return regions;
}

/** Trailing spaces and the blank lines around a block never count; indentation inside does. */
function normalise(parts: string[][]): string[] {
  const lines = parts.flatMap((part) => {
    const indents = part.filter((line) => line.trim()).map((line) => line.length - line.trimStart().length);
    const cut = indents.length > 0 ? Math.min(...indents) : 0;
    return part.map((line) => line.slice(cut).trimEnd());
  });
  while (lines[0] === '') lines.shift();
  while (lines.at(-1) === '') lines.pop();
  return lines;
}

function snippetFiles(folder = SNIPPETS): string[] {
  return readdirSync(path.join(ROOT, folder), { withFileTypes: true }).flatMap((entry) => {
    const file = `${folder}/${entry.name}`;
    if (entry.isDirectory()) return snippetFiles(file);
    return /\.[cm]?[jt]s$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [file] : [];
  });
}

const blocks = readmeBlocks();
const checked = blocks.filter((block) => CHECKED.has(block.lang));

describe('README.md snippets', () => {
  it('has code blocks to check, and a language on every block', () => {
    assert.ok(checked.length > 0, 'no ```ts or ```js block found in README.md');
    const bare = blocks.filter((block) => block.lang === '').map((block) => `README.md:${block.line}`);
    assert.deepEqual(bare, [], 'name the language of these blocks (ts or js to type-check them; sh, json, text to skip)');
  });

  for (const block of checked) {
    const name = block.marker ? `is ${block.marker.file}#${block.marker.region}` : 'has no snippet marker';
    it(`README.md:${block.line} \`\`\`${block.lang} ${name}`, () => {
      const where = `README.md:${block.line} (\`\`\`${block.lang})`;
      if (!block.marker) {
        assert.fail(
          `${where} has no marker. Put its code in a region of a file under ${SNIPPETS}/ and write\n` +
            `  <!-- snippet: ${SNIPPETS}/<file>#<region> -->\non the line before the fence` +
            (block.markerLine ? ` (found ${block.markerLine})` : ''),
        );
      }
      const { file, region } = block.marker;
      assert.ok(
        file.startsWith(`${SNIPPETS}/`) && existsSync(path.join(ROOT, path.dirname(file), 'tsconfig.json')),
        `${where}: ${file} is not in a folder of ${SNIPPETS}/ that has a tsconfig.json, so nothing type-checks it`,
      );
      assert.ok(existsSync(path.join(ROOT, file)), `${where}: ${file} does not exist`);
      assert.ok(
        CHECKED.get(block.lang)!.includes(path.extname(file)),
        `${where}: a \`\`\`${block.lang} block must come from a ${CHECKED.get(block.lang)!.join('/')} file, not ${file}`,
      );
      const regions = regionsOf(file);
      const parts = regions.get(region);
      assert.ok(parts, `${where}: ${file} has no "// #region ${region}" (it has: ${[...regions.keys()].join(', ') || 'none'})`);

      const shown = normalise([block.lines]);
      const source = normalise(parts);
      const first = shown.findIndex((line, index) => line !== source[index]);
      const at = first === -1 ? shown.length : first;
      if (at < shown.length || shown.length !== source.length) {
        assert.fail(
          `${where} differs from ${file}#${region} at line ${at + 1} of the block:\n` +
            `  README:  ${shown[at] ?? '(block ends)'}\n` +
            `  snippet: ${source[at] ?? '(region ends)'}\n` +
            `Change the snippet file (it is type-checked), then copy its region into README.md.`,
        );
      }
    });
  }

  it(`shows every region of ${SNIPPETS}/ in README.md`, () => {
    const shown = new Set(checked.flatMap((block) => (block.marker ? [`${block.marker.file}#${block.marker.region}`] : [])));
    const unused = snippetFiles().flatMap((file) => [...regionsOf(file).keys()].map((region) => `${file}#${region}`));
    assert.deepEqual(
      unused.filter((region) => !shown.has(region)),
      [],
      'these regions are shown nowhere: mark the README block that shows them, or remove them',
    );
  });
});

describe('README.md snippets compile', { concurrency: true }, () => {
  const tsc = path.join(path.dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const configs = [...new Set(snippetFiles().map((file) => `${path.dirname(file)}/tsconfig.json`))].filter((config) => existsSync(path.join(ROOT, config)));

  it('has a tsconfig.json for the snippets', () => {
    assert.ok(configs.length > 0, `no tsconfig.json under ${SNIPPETS}/`);
  });

  for (const config of configs) {
    it(`tsc -p ${config}`, async () => {
      const output = await new Promise<string | undefined>((resolve) => {
        execFile(process.execPath, [tsc, '-p', config, '--pretty', 'false'], { cwd: ROOT }, (error, stdout, stderr) =>
          resolve(error ? `${stdout}${stderr}` || String(error) : undefined),
        );
      });
      if (output !== undefined) assert.fail(`the README's snippets in ${path.dirname(config)}/ do not compile:\n${output}`);
    });
  }
});
