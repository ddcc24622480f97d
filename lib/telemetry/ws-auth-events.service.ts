import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { WsAuthEvent } from './ws-auth-event.js';

/**
 * What authentication did, as a stream for audit trails: inject it and subscribe to
 * `events$`. Events are delivered synchronously, in the handshake itself: hand slow work
 * (a database write, a network call) off rather than do it in the subscriber. While nobody
 * subscribes, no event is built.
 */
@Injectable()
export class WsAuthEvents implements OnModuleDestroy {
  private readonly subject = new Subject<WsAuthEvent>();
  // Counted here rather than read from Subject.observed, which rxjs 7.0 and 7.1 lack.
  private subscribers = 0;

  readonly events$: Observable<WsAuthEvent> = new Observable<WsAuthEvent>((subscriber) => {
    this.subscribers++;
    const subscription = this.subject.subscribe(subscriber);
    return () => {
      this.subscribers--;
      subscription.unsubscribe();
    };
  });

  /** @internal Whether an event would reach anyone: callers build none otherwise. */
  get observed(): boolean {
    return this.subscribers > 0;
  }

  /** @internal */
  emit(event: WsAuthEvent): void {
    this.subject.next(event);
  }

  onModuleDestroy(): void {
    this.subject.complete();
  }
}
