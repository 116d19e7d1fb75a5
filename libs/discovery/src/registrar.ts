/**
 * A registrar puts this instance into a registry while it serves and takes it out before it
 * drains (the order in docs/architecture.md: NOT_SERVING -> deregister -> propagation wait ->
 * drain). `serve()` in @grpc-patterns/runtime drives it.
 */

/** Where this instance serves gRPC, as clients should dial it. */
export interface AdvertisedAddress {
  /** IP or host name reachable by clients (not 0.0.0.0). */
  host: string;
  port: number;
}

/** Registers and deregisters one instance. Both methods are idempotent. */
export interface Registrar {
  /** Adds the instance; resolves once the registry accepted it. @throws Error when it cannot. */
  register(address: AdvertisedAddress): Promise<void>;
  /** Removes the instance; resolves when done or when nothing was registered. @throws Error when the registry refuses. */
  deregister(): Promise<void>;
}
