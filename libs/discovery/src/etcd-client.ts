/**
 * Shared etcd3 clients, one per endpoint list, reference counted: every channel with an
 * etcd:/// target and every registrar in a process talk to etcd over the same connection.
 */
import { Etcd3 } from 'etcd3';

/** etcd's default client URL (what etcdctl dials when told nothing). */
export const DEFAULT_ETCD_ENDPOINT = 'http://127.0.0.1:2379';

/**
 * Parses `ETCD_ENDPOINTS` (`http://10.0.0.1:2379,http://10.0.0.2:2379`, the form etcdctl's
 * `--endpoints` takes; a bare `host:port` gets `http://`). Empty or unset: {@link DEFAULT_ETCD_ENDPOINT}.
 */
export function parseEtcdEndpoints(value: string | undefined): string[] {
  const endpoints = (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .map((e) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `http://${e}`));
  return endpoints.length > 0 ? endpoints : [DEFAULT_ETCD_ENDPOINT];
}

const clients = new Map<string, { client: Etcd3; refs: number }>();

/** A shared client for `endpoints`; give it back with {@link releaseEtcdClient}. */
export function acquireEtcdClient(endpoints: string[]): Etcd3 {
  const key = endpoints.join(',');
  let entry = clients.get(key);
  if (!entry) {
    // Unary calls get a 5 s deadline so a dead etcd surfaces as an error instead of a hang;
    // watch streams are long-lived and get none.
    entry = {
      client: new Etcd3({ hosts: endpoints, dialTimeout: 5_000, defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5_000 }) }),
      refs: 0,
    };
    clients.set(key, entry);
  }
  entry.refs += 1;
  return entry.client;
}

/** Releases a client from {@link acquireEtcdClient}; the last release closes it. */
export function releaseEtcdClient(client: Etcd3): void {
  for (const [key, entry] of clients) {
    if (entry.client !== client) continue;
    entry.refs -= 1;
    if (entry.refs <= 0) {
      clients.delete(key);
      client.close();
    }
    return;
  }
}
