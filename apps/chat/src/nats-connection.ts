/**
 * The bus's NATS connection: it reconnects by itself (every 500 ms, forever), and a drop is
 * reported so the rooms' streams end with UNAVAILABLE (README "NATS going away").
 */
import { connect, Events, type NatsConnection } from 'nats';

/** Connects to `servers` (comma-separated URLs); rejects when none answers. */
export function connectNats(servers: string): Promise<NatsConnection> {
  return connect({ servers: servers.split(','), name: 'chat', maxReconnectAttempts: -1, reconnectTimeWait: 500 });
}

/** Until the connection closes: calls `onLost` on every disconnect; tells `onEvent` of disconnects and reconnects. */
export async function watchConnection(nc: NatsConnection, onEvent: (event: string, detail?: unknown) => void, onLost: () => void): Promise<void> {
  for await (const event of nc.status()) {
    if (event.type === Events.Disconnect) {
      onEvent('disconnect', event.data);
      onLost();
    } else if (event.type === Events.Reconnect) {
      onEvent('reconnect', event.data);
    }
  }
}
