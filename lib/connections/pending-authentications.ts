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
    if ((this.byAddress.get(address ?? '') ?? 0) >= maxPerAddress) throw new WsRefusal('too_many_requests');
    if (this.total >= maxTotal) throw new WsRefusal('too_many_pending');
  }

  add(address: string | undefined): void {
    const key = address ?? '';
    this.total++;
    this.byAddress.set(key, (this.byAddress.get(key) ?? 0) + 1);
  }

  remove(address: string | undefined): void {
    const key = address ?? '';
    this.total--;
    const left = (this.byAddress.get(key) ?? 1) - 1;
    if (left > 0) this.byAddress.set(key, left);
    else this.byAddress.delete(key);
  }
}
