import { WsRefusal } from '../refusals/ws-refusal.js';

/**
 * Sockets accepted without credentials that have not authenticated yet, in all and per
 * remote address. Each holds memory and a timer, so their number is bounded; the per-address
 * bound keeps one client from using up the whole allowance and locking everyone else out.
 */
export class PendingAuthentications {
  private total = 0;
  private readonly byAddress = new Map<string, number>();

  assertRoom(address: string | undefined, maxTotal: number, maxPerAddress: number): void {
    if ((this.byAddress.get(sourceOf(address)) ?? 0) >= maxPerAddress) throw new WsRefusal('too_many_requests');
    if (this.total >= maxTotal) throw new WsRefusal('too_many_pending');
  }

  add(address: string | undefined): void {
    const key = sourceOf(address);
    this.total++;
    this.byAddress.set(key, (this.byAddress.get(key) ?? 0) + 1);
  }

  remove(address: string | undefined): void {
    const key = sourceOf(address);
    this.total--;
    const left = (this.byAddress.get(key) ?? 1) - 1;
    if (left > 0) this.byAddress.set(key, left);
    else this.byAddress.delete(key);
  }
}

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/**
 * The unit one client is held to: an IPv4 address (IPv4-mapped IPv6 included), or an IPv6 /64,
 * since a single host is commonly given a whole /64 and could otherwise spread its sockets over
 * as many addresses as it likes (RFC 6177).
 */
export function sourceOf(address: string | undefined): string {
  if (!address) return '';
  const mapped = IPV4_MAPPED.exec(address);
  if (mapped) return mapped[1];
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0];
  const [head, tail] = bare.split('::');
  const front = head ? head.split(':') : [];
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
