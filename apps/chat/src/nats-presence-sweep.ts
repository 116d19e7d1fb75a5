/** The sweep: a LEFT for every member of a room whose lease is gone, from whichever replica sees it (README "Presence leases"). */
import type { PresenceLeases } from './nats-presence-leases.js';
import type { RoomPublisher } from './nats-room-publisher.js';
import { leftBody } from './nats-room-state.js';

/** Announces the members of `room` whose lease is gone; resolves with the users this call announced. */
export async function sweepRoom(room: string, publisher: RoomPublisher, leases: PresenceLeases, onEvent: (event: string, detail?: unknown) => void): Promise<string[]> {
  // State first, keys second: a member in this state had its key before the state was written,
  // so a key missing now expired (or was deleted after a LEFT, which the re-check skips).
  const state = await publisher.readLast(room);
  if (state.members.length === 0) return [];
  const live = await leases.liveKeys(room);
  const announced: string[] = [];
  for (const user of state.members) {
    const lease = state.leases[user];
    if (lease !== undefined && live.has(leases.key(room, lease))) continue;
    // The listing said gone: confirm with a direct read before announcing.
    if (lease !== undefined && (await leases.alive(room, lease))) continue;
    const event = await publisher.enqueue(room, () => publisher.publishNow(room, leftBody(user), { kind: 'left', lease, expired: true }));
    if (event) {
      announced.push(user);
      onEvent('lease-expired', { room, user, sequence: event.sequence });
    }
  }
  return announced;
}
