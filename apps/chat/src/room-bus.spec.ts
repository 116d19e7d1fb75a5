// The in-process RoomBus on its own: where order is decided, and what a subscriber receives.
import { chatV1 } from '@grpc-patterns/proto';
import { InProcessRoomBus, type RoomEvent, type RoomEventBody } from './room-bus.js';

const message = (text: string): RoomEventBody => ({ $case: 'message', message: { user: 'u', text } });
const texts = (events: RoomEvent[]) => events.map((e) => `${e.sequence}:${e.event.$case === 'message' ? e.event.message.text : 'presence'}`);

describe('InProcessRoomBus', () => {
  const clock = () => new Date('2025-01-02T03:04:05.000Z');

  it('numbers each room from 1 in publish order and stamps the time', async () => {
    const bus = new InProcessRoomBus({ clock });
    const seen: RoomEvent[] = [];
    bus.subscribe('a', (e) => seen.push(e));
    expect(await bus.publish('a', message('x'))).toEqual({ room: 'a', sequence: '1', time: clock(), event: message('x') });
    await bus.publish('b', message('elsewhere'));
    await bus.publish('a', message('y'));
    expect(texts(seen)).toEqual(['1:x', '2:y']);
  });

  it('delivers only events numbered after the subscription, until unsubscribe', async () => {
    const bus = new InProcessRoomBus();
    const keep = bus.subscribe('a', () => undefined);
    await bus.publish('a', message('before'));
    const seen: RoomEvent[] = [];
    const stop = bus.subscribe('a', (e) => seen.push(e));
    await bus.publish('a', message('during'));
    stop();
    stop(); // idempotent
    await bus.publish('a', message('after'));
    expect(texts(seen)).toEqual(['2:during']);
    keep();
  });

  it('queues an event published by a handler behind the one being delivered', async () => {
    const bus = new InProcessRoomBus();
    const first: RoomEvent[] = [];
    const second: RoomEvent[] = [];
    bus.subscribe('a', (e) => {
      first.push(e);
      if (e.sequence === '1') void bus.publish('a', message('nested'));
    });
    bus.subscribe('a', (e) => second.push(e));
    await bus.publish('a', message('outer'));
    // Without the queue, the second subscriber would get "nested" (2) before "outer" (1).
    expect(texts(first)).toEqual(['1:outer', '2:nested']);
    expect(texts(second)).toEqual(['1:outer', '2:nested']);
  });

  it('does not deliver to a subscriber added during delivery the event being delivered', async () => {
    const bus = new InProcessRoomBus();
    const late: RoomEvent[] = [];
    bus.subscribe('a', (e) => {
      if (e.sequence === '1') bus.subscribe('a', (f) => late.push(f));
    });
    await bus.publish('a', message('one'));
    await bus.publish('a', message('two'));
    expect(texts(late)).toEqual(['2:two']);
  });

  it('goes on delivering when a handler throws, and reports it', async () => {
    const errors: unknown[] = [];
    const bus = new InProcessRoomBus({ onHandlerError: (error, room) => errors.push([room, (error as Error).message]) });
    const seen: RoomEvent[] = [];
    bus.subscribe('a', () => {
      throw new Error('broken handler');
    });
    bus.subscribe('a', (e) => seen.push(e));
    await bus.publish('a', message('x'));
    expect(texts(seen)).toEqual(['1:x']);
    expect(errors).toEqual([['a', 'broken handler']]);
  });

  it('forgets a room when its last subscriber leaves', async () => {
    const bus = new InProcessRoomBus();
    const stop = bus.subscribe('a', () => undefined);
    await bus.publish('a', message('x'));
    expect(bus.roomCount()).toBe(1);
    stop();
    expect(bus.roomCount()).toBe(0);
    await bus.publish('a', { $case: 'presence', presence: { user: 'u', kind: chatV1.PresenceKind.PRESENCE_KIND_LEFT, members: [] } });
    expect(bus.roomCount()).toBe(0);
    const seen: RoomEvent[] = [];
    bus.subscribe('a', (e) => seen.push(e));
    await bus.publish('a', message('fresh'));
    expect(texts(seen)).toEqual(['1:fresh']);
  });
});
