/**
 * A failure budget per peer address for credentials that do not verify (issue 17, finding 5).
 * A token check costs an ECDSA signature verification on libuv's thread pool (jose 6 uses
 * WebCrypto, whose `subtle.verify` runs there); a peer sending forged tokens would otherwise
 * buy one per call. The budget is counted per process in memory (rate-limiter-flexible's
 * RateLimiterMemory): it protects this process' CPU, so it counts what this process spent,
 * with no store round trip in front of the check.
 *
 * Use: {@link PeerFailureBudget.blocked} before the expensive check (cheap: a map lookup);
 * {@link PeerFailureBudget.failed} after a check that failed. A peer that spent its budget gets
 * RESOURCE_EXHAUSTED with RetryInfo (and `grpc-retry-pushback-ms`) until the window ends,
 * without a signature check. Good credentials never consume.
 */
import * as grpc from '@grpc/grpc-js';
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { RETRY_PUSHBACK_KEY } from './rate-limit.js';

/** Status message of a call refused because its peer spent its failure budget. */
export const AUTH_FAILURES_EXCEEDED_MESSAGE = 'too many failed authentications from this address';

/** Defaults of {@link peerFailureBudget}: 100 failed checks per 60 s per address. */
export const DEFAULT_AUTH_FAILURE_BUDGET = Object.freeze({ failures: 100, windowS: 60 });

/** Options of {@link peerFailureBudget} (AUTH_FAILURES_PER_PEER, AUTH_FAILURE_WINDOW_S). */
export interface PeerFailureBudgetOptions {
  /** Failed checks a peer address may cause per window; 0 turns the budget off. Default 100. */
  failures?: number;
  /** Window, whole seconds. Default 60. */
  windowS?: number;
  /** Key prefix inside the process (one budget per use). Default `auth-fail`. */
  keyPrefix?: string;
}

/** See the module comment. */
export interface PeerFailureBudget {
  /**
   * The refusal for `peer` (a grpc-js peer string) when it has spent its budget, else undefined:
   * a GrpcError RESOURCE_EXHAUSTED {@link AUTH_FAILURES_EXCEEDED_MESSAGE} with RetryInfo = ms
   * until the window ends, and the same ms in `grpc-retry-pushback-ms`.
   */
  blocked(peer: string): Promise<GrpcError | undefined>;
  /** Counts one failed check for `peer`. Never rejects. */
  failed(peer: string): Promise<void>;
  /**
   * Synchronously: true when `peer` may have spent its budget (ask {@link blocked}), false when
   * it has not (no refusal is due). Optional; without it callers always ask `blocked`.
   */
  spent?(peer: string): boolean;
}

/**
 * The host part of a grpc-js server peer string ("127.0.0.1:51234", "::1:51234",
 * "[::1]:51234"), with IPv4-mapped IPv6 ("::ffff:127.0.0.1") written as IPv4 so one client has
 * one key on IPv4 and dual-stack servers alike.
 */
export function peerAddress(peer: string): string {
  const host = peer.startsWith('[') ? peer.slice(1, peer.indexOf(']')) : peer.replace(/:\d+$/, '');
  return host.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
}

/** A budget of `failures` per `windowS` per peer address, in memory; see the module comment. */
export function peerFailureBudget(options: PeerFailureBudgetOptions = {}): PeerFailureBudget {
  const failures = options.failures ?? DEFAULT_AUTH_FAILURE_BUDGET.failures;
  const windowS = options.windowS ?? DEFAULT_AUTH_FAILURE_BUDGET.windowS;
  if (failures === 0) return { blocked: async () => undefined, failed: async () => undefined, spent: () => false };
  const limiter = new RateLimiterMemory({ keyPrefix: options.keyPrefix ?? 'auth-fail', points: failures, duration: windowS });
  // Addresses that spent the budget -> when their window ends (ms since epoch): what spent() reads.
  const spentUntil = new Map<string, number>();
  let sweepAt = 1024;
  const markSpent = (address: string, res: RateLimiterRes) => {
    if (res.remainingPoints > 0) return;
    const now = Date.now();
    spentUntil.set(address, now + res.msBeforeNext);
    if (spentUntil.size < sweepAt) return;
    for (const [key, until] of spentUntil) if (until <= now) spentUntil.delete(key);
    sweepAt = Math.max(1024, spentUntil.size * 2);
  };
  return {
    spent(peer) {
      const address = peerAddress(peer);
      const until = spentUntil.get(address);
      if (until === undefined) return false;
      if (until > Date.now()) return true;
      spentUntil.delete(address);
      return false;
    },
    async blocked(peer) {
      const res = await limiter.get(peerAddress(peer));
      if (!res || res.consumedPoints < failures) return undefined;
      const waitMs = Math.max(1, Math.ceil(res.msBeforeNext));
      const trailers = new grpc.Metadata();
      trailers.set(RETRY_PUSHBACK_KEY, String(waitMs));
      return new GrpcError(grpc.status.RESOURCE_EXHAUSTED, AUTH_FAILURES_EXCEEDED_MESSAGE, trailers, [], [{ type: 'RetryInfo', retryDelayMs: waitMs }]);
    },
    async failed(peer) {
      // Rejects once the budget is spent: that is the answer blocked() reads, not an error.
      const address = peerAddress(peer);
      await limiter.consume(address, 1).then(
        (res) => markSpent(address, res),
        (res: unknown) => res instanceof RateLimiterRes && markSpent(address, res),
      );
    },
  };
}
