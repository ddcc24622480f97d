import { whole } from './stats.js';

type Medians = Map<string, { median: number }>;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A horizontal bar chart of handshake rates from one run, as a standalone SVG: the library's bars in blue. */
export function handshakeChart(measured: Medians): string {
  const bars = [...measured].map(([name, { median }]) => ({ name, value: median }));
  const max = Math.max(...bars.map((bar) => bar.value));
  const width = 840;
  const left = 410;
  const barHeight = 26;
  const height = 50 + bars.length * (barHeight + 12);
  const rows = bars
    .map((bar, i) => {
      const y = 40 + i * (barHeight + 12);
      const w = Math.max(2, ((width - left - 110) * bar.value) / max);
      const colour = bar.name.startsWith('WsAuthAdapter') ? '#3367d6' : '#9aa0a6';
      return [
        `<text x="${left - 10}" y="${y + 18}" text-anchor="end">${escape(bar.name)}</text>`,
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${colour}" rx="3"/>`,
        `<text x="${(left + w + 8).toFixed(1)}" y="${y + 18}">${whole(bar.value)}/s</text>`,
      ].join('');
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="22" font-size="15" font-weight="600">WebSocket handshakes per second (median of rounds, one run)</text>
${rows}
</svg>
`;
}
