/** The idempotency-key pruner of the orders service (keys expire; orders never do). */
import type { Logger } from '@grpc-patterns/observability';
import type { OrderStore } from './order-store.js';

/**
 * Prunes expired idempotency keys now and every `intervalMs` (0: never again), one run at a time; a failed run
 * is logged at warn and the next one tries again (README "Explanation: Expiry").
 */
export function startKeyPruner(store: OrderStore, options: { logger: Logger; now: () => Date; intervalMs: number }): { prune(): Promise<number>; stop(): Promise<void> } {
  let running: Promise<number> | undefined;
  const prune = (): Promise<number> =>
    (running ??= store
      .pruneExpiredKeys(options.now())
      .then((count) => {
        if (count > 0) options.logger.info({ count }, 'idempotency keys pruned');
        return count;
      })
      .catch((error: unknown) => {
        options.logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'pruning idempotency keys failed; retrying at the next interval');
        return 0;
      })
      .finally(() => {
        running = undefined;
      }));
  const timer = options.intervalMs > 0 ? setInterval(() => void prune(), options.intervalMs) : undefined;
  timer?.unref();
  return {
    prune,
    async stop() {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
