/**
 * The chat service's environment: the variables every service reads plus the two limits that
 * keep a room and a slow stream bounded in memory. Parsed once by main.ts with
 * `loadConfigOrExit`; a bad value stops start-up with one line naming the variable.
 */
import { authTargetEnv, ConfigError, discoveryEnv, parseConfig, rateLimitEnv, serviceEnv, wholeNumber, z, type Env } from '@grpc-patterns/config';
import { serviceManifest } from '@grpc-patterns/manifest';

/** zod shape of the chat service's environment (exported for tests and tools). */
export const chatConfigShape = {
  ...serviceEnv(serviceManifest('chat')),
  /** DISCOVERY, CONSUL_HTTP_ADDR, ETCD_ENDPOINTS, SERVICE_VERSION, DISCOVERY_ADVERTISE_HOST (docs/discovery.md). */
  ...discoveryEnv(),
  /** REDIS_URL (rate limits shared by the replicas; unset: in memory), RATE_LIMIT_FAIL=open|closed (docs/interceptors.md). */
  ...rateLimitEnv(),
  /** Where auth is: its public keys verify the access tokens callers send. */
  ...authTargetEnv(),
  /**
   * Room events one stream may have waiting for its client (accepted from the room, not yet
   * handed to grpc-js). One more and the stream ends with RESOURCE_EXHAUSTED "client too slow".
   * An event is at most ~4 KiB of text plus framing, so 1000 is at most ~4 MiB per stream.
   */
  MAX_PENDING_EVENTS: wholeNumber(1, 1_000_000).prefault('1000'),
  /**
   * Who a member is. `token` (the default): the caller's access-token subject (auth's user id);
   * a `user` that is set and differs ends the stream with PERMISSION_DENIED, an empty one means
   * the subject. `name`: the JoinRoom's `user` as sent, so any authenticated caller may join and
   * speak as any other user (insecure; for demos only: red-team finding 7 of issue 17).
   */
  CHAT_IDENTITY: z.enum(['name', 'token'], { message: 'must be one of name, token' }).default('token'),
  /** Members one room may have; the next JoinRoom fails with RESOURCE_EXHAUSTED. */
  MAX_ROOM_MEMBERS: wholeNumber(1, 1_000_000).prefault('1000'),
  /**
   * NATS server(s) with JetStream, e.g. `nats://127.0.0.1:4222` (comma-separated for a
   * cluster): rooms go through the NATS room bus, shared by every replica. Unset: the
   * in-process bus (one replica).
   */
  NATS_URL: z
    .string()
    .regex(/^(nats|tls):\/\/[^\s,]+(,(nats|tls):\/\/[^\s,]+)*$/, { message: 'must be nats://host:port (or tls://), comma-separated for several' })
    .optional(),
  /**
   * NATS only: a member's presence lease lives this long after its last renewal, ms. A replica
   * killed without a word (SIGKILL) has its members announced as LEFT within about this plus
   * PRESENCE_HEARTBEAT_MS. It is the lease bucket's max_age, so every replica must use the same.
   */
  PRESENCE_LEASE_TTL_MS: wholeNumber(1_000, 600_000, 'milliseconds').prefault('15000'),
  /** NATS only: how often a replica renews its members' leases and sweeps its rooms for expired ones, ms; at most half the TTL. */
  PRESENCE_HEARTBEAT_MS: wholeNumber(100, 300_000, 'milliseconds').prefault('5000'),
  /** NATS only: the JetStream KV bucket of the presence leases (replicas of one service share it). */
  PRESENCE_BUCKET: z
    .string()
    .regex(/^[a-zA-Z0-9_-]{1,64}$/, { message: 'must be 1-64 characters of [a-zA-Z0-9_-] (a NATS KV bucket name)' })
    .prefault('CHAT_PRESENCE'),
};

/** The parsed configuration. */
export type ChatConfig = z.infer<z.ZodObject<typeof chatConfigShape>>;

/**
 * Parses {@link chatConfigShape}, plus PRESENCE_HEARTBEAT_MS at most half of PRESENCE_LEASE_TTL_MS (README
 * "Explanation: Presence leases").
 * @throws ConfigError naming the first bad variable.
 */
export function parseChatConfig(env: Env = process.env): ChatConfig {
  const config = parseConfig(chatConfigShape, env);
  assertLeaseTiming(config.PRESENCE_LEASE_TTL_MS, config.PRESENCE_HEARTBEAT_MS);
  return config;
}

/**
 * The presence lease timing rule: a heartbeat (ms) of at most half the lease TTL (ms).
 *
 * @throws ConfigError PRESENCE_HEARTBEAT_MS otherwise.
 */
export function assertLeaseTiming(leaseTtlMs: number, heartbeatMs: number): void {
  if (heartbeatMs * 2 > leaseTtlMs) throw new ConfigError('PRESENCE_HEARTBEAT_MS', `must be at most half of PRESENCE_LEASE_TTL_MS (${leaseTtlMs}) (got "${heartbeatMs}")`);
}


