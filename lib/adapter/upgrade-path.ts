// A path of plain segments (letters, digits, `_`, `~`, `-`, dots inside a segment), optionally
// ending in `/`: the WHATWG URL parser returns such a path unchanged. Anything else (`%`,
// `\`, `//`, dot segments, other characters) is left to the parser itself.
const PLAIN_PATH = /^(?:\/[\w~-]+(?:\.[\w~-]+)*)*\/?$/;
// Host headers already seen to parse as a URL host: a server hears one or a few.
const KNOWN_HOSTS = 16;

/**
 * The pathname Nest's WsAdapter routes an upgrade by (`new URL(request.url, 'ws://' + host +
 * '/').pathname`), without parsing the URL when the answer is plain: the parser measured 4-7% of
 * a busy server's CPU per handshake. `undefined` means "let Nest parse it": an odd path, or a
 * Host that does not parse as a URL host (Nest's own listener then refuses it as it always did).
 */
export class UpgradePaths {
  private readonly hosts = new Set<string>();

  plainPathname(url: string | undefined, host: string | undefined): string | undefined {
    if (url === undefined) return undefined;
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    // An empty path (a target of only a query) is `/` to the parser: left to it.
    return path.length > 0 && PLAIN_PATH.test(path) && this.parses(`${host}`) ? path : undefined;
  }

  /** Whether `ws://<host>/` is a URL, as Nest's base URL must be; remembered when it is. */
  private parses(host: string): boolean {
    if (this.hosts.has(host)) return true;
    if (!URL.canParse(`ws://${host}/`)) return false;
    if (this.hosts.size >= KNOWN_HOSTS) this.hosts.clear();
    this.hosts.add(host);
    return true;
  }
}
