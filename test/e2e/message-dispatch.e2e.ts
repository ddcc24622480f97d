import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Catch, Injectable, Module, UseFilters, type INestApplication, type WsExceptionFilter } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import { MessageBody, SubscribeMessage, WebSocketGateway, WsException, type OnGatewayConnection, type OnGatewayDisconnect } from '@nestjs/websockets';
import { concat, Observable, of, throwError } from 'rxjs';
import WebSocket from 'ws';
import { bindMessageHandlersWithoutRxjs, type MessageDispatchHost } from '../../lib/adapter/message-dispatch.js';
import { websocketsMajorVersion } from '../../lib/adapter/nest-websockets-version.js';
import { collector } from '../support/collector.js';
import { LogCapture } from '../support/log-capture.js';
import { openOrFail } from '../support/ws-client.js';

const NEST_12 = (websocketsMajorVersion() ?? 0) >= 12;
// Nest 11's filters emit a local 'exception' event on a native socket instead of sending it.
const SENDS_EXCEPTIONS = NEST_12;
// Two gateways on one path: Nest 11 binds a client to them in order of declaration, Nest 12 in reverse.
const inBindingOrder = <T>(first: T[], second: T[]): T[] => (NEST_12 ? [...second, ...first] : [...first, ...second]);
const QUIET_MS = 60;
const MEASURED_CONNECTIONS = 2000;

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What both gateways of one app saw, in order. */
@Injectable()
class Journal {
  readonly entries: string[] = [];
  ticksRunning = 0;
  ticksSent = 0;
}

@Catch()
class RethrowFilter implements WsExceptionFilter {
  catch(exception: unknown) {
    throw exception;
  }
}

/** Uses every Nest path a client may reach; the second gateway shares its path, so each client is bound twice. */
@WebSocketGateway({ path: '/dispatch' })
class FirstGateway implements OnGatewayConnection, OnGatewayDisconnect {
  constructor(private readonly journal: Journal) {}

  handleConnection() {
    this.journal.entries.push('connect:first');
  }
  handleDisconnect() {
    this.journal.entries.push('disconnect:first');
  }

  @SubscribeMessage('value')
  value(@MessageBody() data: unknown) {
    return { got: data };
  }

  @SubscribeMessage('wrapped')
  wrapped(@MessageBody() data: unknown) {
    return { event: 'wrapped', data };
  }

  @SubscribeMessage('nothing')
  nothing() {
    return undefined;
  }

  @SubscribeMessage('null')
  nil() {
    return null;
  }

  @SubscribeMessage('promise')
  async promise(@MessageBody() data: unknown) {
    await delay(5);
    return { event: 'promise', data };
  }

  @SubscribeMessage('rejected')
  rejected() {
    return Promise.reject(new WsException('rejected on purpose'));
  }

  @SubscribeMessage('many')
  many() {
    return of({ event: 'many', data: 1 }, null, { event: 'many', data: 2 }, undefined, 3);
  }

  @SubscribeMessage('broken-stream')
  brokenStream() {
    return concat(
      of({ event: 'broken-stream', data: 1 }),
      throwError(() => new WsException('stream broke')),
    );
  }

  @SubscribeMessage('ws-exception')
  wsException() {
    throw new WsException({ code: 'denied' });
  }

  @SubscribeMessage('ws-exception-text')
  wsExceptionText() {
    throw new WsException('denied');
  }

  @SubscribeMessage('error')
  error() {
    throw new Error('boom');
  }

  @UseFilters(RethrowFilter)
  @SubscribeMessage('rethrow')
  rethrow() {
    throw new Error('rethrown by a filter');
  }

  @SubscribeMessage('dup')
  dupFirst() {
    return 'first handler';
  }

  @SubscribeMessage('dup')
  dupSecond() {
    return 'last handler';
  }

  @SubscribeMessage('ticks')
  ticks() {
    return new Observable<{ event: string; data: number }>((subscriber) => {
      this.journal.ticksRunning++;
      let n = 0;
      const timer = setInterval(() => {
        this.journal.ticksSent++;
        subscriber.next({ event: 'tick', data: n++ });
      }, 10);
      return () => {
        clearInterval(timer);
        this.journal.ticksRunning--;
        this.journal.entries.push('ticks-end:first');
      };
    });
  }
}

@WebSocketGateway({ path: '/dispatch' })
class SecondGateway implements OnGatewayConnection, OnGatewayDisconnect {
  constructor(private readonly journal: Journal) {}

  handleConnection() {
    this.journal.entries.push('connect:second');
  }
  handleDisconnect() {
    this.journal.entries.push('disconnect:second');
  }

  @SubscribeMessage('value')
  value(@MessageBody() data: unknown) {
    return { second: data };
  }

  @SubscribeMessage('late')
  late() {
    return new Observable<never>(() => () => this.journal.entries.push('late-end:second'));
  }
}

@Module({ providers: [Journal, FirstGateway, SecondGateway] })
class DispatchModule {}

/** A typical gateway alone, for the measurements. */
@WebSocketGateway({ path: '/measure' })
class MeasuredGateway {
  @SubscribeMessage('a') a(@MessageBody() data: unknown) {
    return data;
  }
  @SubscribeMessage('b') b(@MessageBody() data: unknown) {
    return data;
  }
  @SubscribeMessage('c') c(@MessageBody() data: unknown) {
    return data;
  }
  @SubscribeMessage('d') d(@MessageBody() data: unknown) {
    return data;
  }
  @SubscribeMessage('e') e(@MessageBody() data: unknown) {
    return data;
  }
}

@Module({ providers: [MeasuredGateway] })
class MeasuredModule {}

/** Time spent building and tearing down the dispatch of each client, when measuring. */
class DispatchCost {
  buildMs = 0;
  teardownMs = 0;
  builds = 0;
  teardowns = 0;
  private closeStarted = 0;
  readonly onCloseStart = () => void (this.closeStarted = performance.now());
  readonly onCloseEnd = () => {
    this.teardownMs += performance.now() - this.closeStarted;
    this.teardowns++;
  };
}

type Bind = (client: any, handlers: any[], transform: (data: any) => any) => void;

function measured(cost: DispatchCost | undefined, client: WebSocket, bind: () => void): void {
  if (!cost) return bind();
  // Listeners right before and after the dispatch's own: the gap is its close work alone.
  client.on('close', cost.onCloseStart);
  const started = performance.now();
  bind();
  cost.buildMs += performance.now() - started;
  cost.builds++;
  client.on('close', cost.onCloseEnd);
}

/** Nest's own dispatch (rxjs), with the same measuring hooks. */
class NestDispatchAdapter extends WsAdapter {
  cost?: DispatchCost;
  override bindMessageHandlers(...[client, handlers, transform]: Parameters<Bind>) {
    measured(this.cost, client, () => super.bindMessageHandlers(client, handlers, transform));
  }
}

/** Wired as WsAuthAdapter would wire it. */
class RxjsFreeAdapter extends WsAdapter {
  cost?: DispatchCost;
  private readonly dispatch: MessageDispatchHost = { messageParser: () => this.messageParser, logger: this.logger };
  override bindMessageHandlers(...[client, handlers, transform]: Parameters<Bind>) {
    measured(this.cost, client, () => bindMessageHandlersWithoutRxjs(this.dispatch, client, handlers, transform));
  }
}

interface Side {
  name: 'nest' | 'ours';
  app: INestApplication;
  adapter: NestDispatchAdapter | RxjsFreeAdapter;
  url: string;
}

const logs = new LogCapture();

async function boot(name: Side['name'], module: object, path: string): Promise<Side> {
  // Nest's Logger is global: both apps write to one capture, so cases run one side at a time.
  const app = await NestFactory.create(module, { logger: logs, abortOnError: false });
  const adapter = name === 'nest' ? new NestDispatchAdapter(app) : new RxjsFreeAdapter(app);
  app.useWebSocketAdapter(adapter);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { name, app, adapter, url: `ws://127.0.0.1:${port}${path}` };
}

type Frame = string | Buffer;
interface Transcript {
  frames: string[];
  errors: string[];
}

/** Sends the frames on a fresh client and records every frame back and every error logged until quiet. */
async function transcript(side: Side, frames: Frame[]): Promise<Transcript> {
  const firstLog = logs.lines.length;
  const socket = await openOrFail(side.url);
  const received: string[] = [];
  let lastFrameAt = Date.now();
  socket.on('message', (data) => {
    received.push(String(data));
    lastFrameAt = Date.now();
  });
  for (const frame of frames) {
    socket.send(frame, { binary: Buffer.isBuffer(frame) });
    await delay(QUIET_MS);
  }
  while (Date.now() - lastFrameAt < QUIET_MS) await delay(10);
  socket.close();
  await new Promise((resolve) => socket.once('close', resolve));
  // Only the message of each error: stacks differ by the dispatch's frames.
  const errors = logs.lines
    .slice(firstLog)
    .filter((line) => line.startsWith('error '))
    .map((line) => line.split('\n')[0]!);
  return { frames: received, errors };
}

const json = (event: string, data?: unknown) => JSON.stringify({ event, data });
const exception = (data: unknown) => (SENDS_EXCEPTIONS ? [JSON.stringify({ event: 'exception', data })] : []);

describe('bindMessageHandlersWithoutRxjs: the same behaviour as Nest WsAdapter', { timeout: 60_000 }, () => {
  let nest: Side;
  let ours: Side;
  before(async () => {
    nest = await boot('nest', DispatchModule, '/dispatch');
    ours = await boot('ours', DispatchModule, '/dispatch');
  });
  after(async () => {
    await nest?.app.close();
    await ours?.app.close();
  });

  /** Runs the frames against both apps and checks both against what Nest is known to answer. */
  async function same(frames: Frame[], expected: string[], expectedErrors: string[] = []): Promise<void> {
    const fromNest = await transcript(nest, frames);
    const fromOurs = await transcript(ours, frames);
    assert.deepEqual(fromOurs, fromNest);
    assert.deepEqual(fromNest.frames, expected);
    assert.deepEqual(fromNest.errors, expectedErrors);
  }

  it('sends a returned value, from every gateway bound to the client, in binding order', () =>
    same([json('value', 'hi')], inBindingOrder([JSON.stringify({ got: 'hi' })], [JSON.stringify({ second: 'hi' })])));

  it('sends a returned { event, data }', () => same([json('wrapped', { n: 1 })], [json('wrapped', { n: 1 })]));

  it('sends nothing for undefined or null', () => same([json('nothing', 1), json('null', 1)], []));

  it('sends what a Promise resolves to', () => same([json('promise', 7)], [json('promise', 7)]));

  it('sends an exception frame for a rejected Promise', () =>
    same([json('rejected', 1)], exception({ status: 'error', message: 'rejected on purpose', cause: { pattern: 'rejected', data: 1 } })));

  it('sends every non-nil value of an Observable', () => same([json('many')], [json('many', 1), json('many', 2), '3']));

  it('sends the values of an Observable before its error, and keeps serving later messages', () =>
    same(
      [json('broken-stream', 0), json('wrapped', 'after')],
      [
        json('broken-stream', 1),
        ...exception({ status: 'error', message: 'stream broke', cause: { pattern: 'broken-stream', data: 0 } }),
        json('wrapped', 'after'),
      ],
    ));

  it('sends a WsException through the filters, object and text payloads alike', () =>
    same(
      [json('ws-exception', 1), json('ws-exception-text', 2)],
      [...exception({ code: 'denied' }), ...exception({ status: 'error', message: 'denied', cause: { pattern: 'ws-exception-text', data: 2 } })],
    ));

  it('sends the unknown-error frame for a plain Error, and logs it', () =>
    same(
      [json('error', 3)],
      exception({ status: 'error', message: 'Internal server error', cause: { pattern: 'error', data: 3 } }),
      // Both majors' BaseWsExceptionFilter log an unknown error.
      ['error boom'],
    ));

  it('ignores unknown events and invalid JSON silently, and answers the next frame', () =>
    same([json('no-such-event', 1), '{not json', 'null', '42', json('wrapped', 'still here')], [json('wrapped', 'still here')]));

  it('reads a binary frame as the default parser does', () => same([Buffer.from(json('wrapped', 'binary'))], [json('wrapped', 'binary')]));

  it('uses the last handler of an event declared twice, as Nest`s Map does', () => same([json('dup')], [JSON.stringify('last handler')]));

  it('survives a filter that rethrows: logged, and later messages still served', async () => {
    const frames = [json('rethrow', 1), json('wrapped', 'after')];
    const fromOurs = await transcript(ours, frames);
    assert.deepEqual(fromOurs.frames, [json('wrapped', 'after')]);
    assert.deepEqual(fromOurs.errors, ['error rethrown by a filter']);
    // Nest 11 lets this error escape into rxjs, which rethrows it on a timer: the process ends.
    if (SENDS_EXCEPTIONS) assert.deepEqual(await transcript(nest, frames), fromOurs);
  });

  it('cancels every running stream on close, in the order Nest does', async () => {
    const runs = await Promise.all(
      [nest, ours].map(async (side) => {
        const journal = side.app.get(Journal);
        journal.entries.length = 0;
        const socket = await openOrFail(side.url);
        let ticks = 0;
        socket.on('message', (data) => (ticks += String(data).includes('"tick"') ? 1 : 0));
        socket.send(json('ticks'));
        socket.send(json('ticks'));
        socket.send(json('late'));
        while (ticks < 6) await delay(5);
        assert.equal(journal.ticksRunning, 2);
        socket.close();
        await new Promise((resolve) => socket.once('close', resolve));
        while (!journal.entries.includes('disconnect:second')) await delay(5);
        const sentAtClose = journal.ticksSent;
        await delay(100);
        return { entries: [...journal.entries], running: journal.ticksRunning, sentAfterClose: journal.ticksSent - sentAtClose };
      }),
    );
    const [fromNest, fromOurs] = runs;
    assert.deepEqual(fromOurs, fromNest);
    // Each binding's streams end in its own close listener, and the first bound gateway's
    // disconnect listener runs both disconnect hooks: between the two bindings' streams.
    const firstBound = ['ticks-end:first', 'ticks-end:first'];
    const secondBound = ['late-end:second'];
    assert.deepEqual(
      fromNest!.entries,
      NEST_12
        ? ['connect:second', 'connect:first', ...secondBound, 'disconnect:second', 'disconnect:first', ...firstBound]
        : ['connect:first', 'connect:second', ...firstBound, 'disconnect:first', 'disconnect:second', ...secondBound],
    );
    assert.equal(fromNest!.running, 0);
    assert.equal(fromNest!.sentAfterClose, 0);
  });

  it('reads the parser at call time, gives it what Nest gives it, and logs a throwing custom parser', async () => {
    const seen: Record<Side['name'], string[]> = { nest: [], ours: [] };
    for (const side of [nest, ours]) {
      // `event|json`, a format JSON.parse cannot read; `throw|` is a parser bug.
      side.adapter.setMessageParser((data) => {
        seen[side.name].push(typeof data === 'string' ? 'text' : Buffer.isBuffer(data) ? 'buffer' : 'other');
        const text = String(data);
        if (text.startsWith('throw|')) throw new Error('parser bug');
        const bar = text.indexOf('|');
        if (bar === -1) return undefined;
        return { event: text.slice(0, bar), data: JSON.parse(text.slice(bar + 1)) };
      });
    }
    const frames = ['wrapped|{"pipe":true}', json('wrapped', 'json is not read'), 'throw|{}', Buffer.from('wrapped|"binary"'), 'wrapped|"after"'];
    const fromNest = await transcript(nest, frames);
    const fromOurs = await transcript(ours, frames);
    const expected = [json('wrapped', { pipe: true }), json('wrapped', 'binary'), json('wrapped', 'after')];
    assert.deepEqual(fromNest.frames, expected);
    assert.deepEqual(fromOurs.frames, expected);
    // Twice per frame: each of the two gateways' bindings parses it, as Nest's two pipelines do.
    const kinds = ['text', 'text', 'text', 'text', 'text', 'text', 'buffer', 'buffer', 'text', 'text'];
    assert.deepEqual(seen.nest, kinds);
    assert.deepEqual(seen.ours, kinds);
    // Nest 12 logs a custom parser that throws (once per binding); Nest 11 drops it silently.
    assert.deepEqual(fromOurs.errors, ['error parser bug', 'error parser bug']);
    if (SENDS_EXCEPTIONS) assert.deepEqual(fromNest.errors, fromOurs.errors);
    else assert.deepEqual(fromNest.errors, []);
  });
});

describe('bindMessageHandlersWithoutRxjs: cost per connection (measured, not asserted)', { timeout: 120_000 }, () => {
  it(`opens and closes ${MEASURED_CONNECTIONS} idle sockets against each dispatch`, async () => {
    const gc = collector();
    const results: string[] = [];
    for (const name of ['nest', 'ours', 'nest', 'ours'] as const) {
      const side = await boot(name, MeasuredModule, '/measure');
      const cost = new DispatchCost();
      side.adapter.cost = cost;
      try {
        // A warm-up socket first, so lazy caches are not charged to the measured ones.
        (await openOrFail(side.url)).terminate();
        await delay(50);
        gc?.();
        gc?.();
        const baseline = process.memoryUsage().heapUsed;
        const sockets: WebSocket[] = [];
        while (sockets.length < MEASURED_CONNECTIONS) {
          sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => openOrFail(side.url)))));
        }
        while (cost.builds < MEASURED_CONNECTIONS + 1) await delay(5);
        gc?.();
        gc?.();
        const open = process.memoryUsage().heapUsed;
        for (const socket of sockets) socket.terminate();
        while (cost.teardowns < MEASURED_CONNECTIONS + 1) await delay(5);
        const perSocket = (open - baseline) / MEASURED_CONNECTIONS;
        const build = (cost.buildMs / cost.builds) * 1000;
        const teardown = (cost.teardownMs / cost.teardowns) * 1000;
        results.push(
          `${name.padEnd(4)}: ${perSocket.toFixed(0)} B heap per idle connection (server and client sides), ` +
            `bind ${build.toFixed(1)} us, close ${teardown.toFixed(1)} us per connection`,
        );
        assert.equal(cost.builds, MEASURED_CONNECTIONS + 1);
      } finally {
        await side.app.close();
      }
    }
    console.log(`\n${gc ? '' : '(no gc available: heap figures are noisy)\n'}${results.join('\n')}\n`);
  });
});
