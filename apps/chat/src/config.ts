/**
 * The chat service's environment: the variables every service reads plus the two limits that
 * keep a room and a slow stream bounded in memory. Parsed once by main.ts with
 * `loadConfigOrExit`; a bad value stops start-up with one line naming the variable.
 */
import { authTargetEnv, discoveryEnv, rateLimitEnv, serviceEnv, wholeNumber, z } from '@grpc-patterns/config';

/** zod shape of the chat service's environment (exported for tests and tools). */
export const chatConfigShape = {
  ...serviceEnv({ grpc: 50054, metrics: 9104 }),
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
};

/** The parsed configuration. */
export type ChatConfig = z.infer<z.ZodObject<typeof chatConfigShape>>;
