/**
 * The one door to scrypt work (issue 17, finding 2). scrypt runs on libuv's thread pool (4
 * threads by default), and so do the ECDSA checks and signatures of every token (jose 6 uses
 * WebCrypto, whose sign/verify run there too). Unbounded, 4 concurrent Logins took every
 * thread and each token check waited seconds for one. Here:
 * - at most `maxConcurrent` hashes run at once (kept below UV_THREADPOOL_SIZE by the config
 *   check), so a thread is always free for token checks; each running hash holds 128 MiB, so
 *   this also bounds the memory scrypt can take;
 * - waiting hashes queue, at most `maxQueued` in all and `maxPerKey` per key (the peer
 *   address: queued + running), and the queue is served round robin across keys, a key that
 *   had nothing queued going first: one address flooding Login delays another's Login by at
 *   most the hashes already running;
 * - a full queue (or a key over its share) is refused at once with RESOURCE_EXHAUSTED and a
 *   RetryInfo estimating when a slot frees up; a call cancelled while it waited is dropped
 *   before its hash starts.
 */
import { GrpcError } from '@grpc-patterns/grpc-kit';
import { status, Metadata } from '@grpc/grpc-js';

/** Status message of a hash refused because the queue (or the caller's share of it) is full. */
export const HASH_QUEUE_FULL_MESSAGE = 'too many password checks in progress; retry later';

/** Options of {@link createHashQueue}. */
export interface HashQueueOptions {
  /** Hashes running at once (SCRYPT_MAX_CONCURRENT). */
  maxConcurrent: number;
  /** Hashes waiting, over all keys (SCRYPT_MAX_QUEUE). */
  maxQueued: number;
  /** Hashes waiting or running for one key (SCRYPT_MAX_PER_PEER). */
  maxPerKey: number;
}

/** See the module comment. */
export interface HashQueue {
  /**
   * Runs `work` when a slot is free and it is this key's turn.
   *
   * @param key the peer address (one budget per address).
   * @param cancelled checked when the turn comes: true drops the job (GrpcError CANCELLED).
   * @throws GrpcError RESOURCE_EXHAUSTED {@link HASH_QUEUE_FULL_MESSAGE} with RetryInfo (ms)
   *   when the queue or the key's share is full; whatever `work` throws.
   */
  run<T>(key: string, work: () => Promise<T>, cancelled?: () => boolean): Promise<T>;
  /** Hashes running and waiting now. */
  stats(): { running: number; queued: number };
}

interface Job {
  start(): void;
  cancelled?: () => boolean;
  drop(): void;
}

/** A queue with the limits of `options`; see the module comment. */
export function createHashQueue(options: HashQueueOptions): HashQueue {
  const queues = new Map<string, Job[]>();
  /** Keys with waiting jobs, in the order they are served next. */
  const rotation: string[] = [];
  const perKey = new Map<string, number>();
  let running = 0;
  let queued = 0;
  // Moving average of one hash's duration, for RetryInfo (starts at the ~0.5 s OWASP cost).
  let averageMs = 500;

  const release = (key: string) => {
    const left = (perKey.get(key) ?? 1) - 1;
    if (left <= 0) perKey.delete(key);
    else perKey.set(key, left);
  };

  const dispatch = () => {
    while (running < options.maxConcurrent && rotation.length > 0) {
      const key = rotation.shift() as string;
      const jobs = queues.get(key) as Job[];
      const job = jobs.shift() as Job;
      queued--;
      if (jobs.length > 0) rotation.push(key);
      else queues.delete(key);
      if (job.cancelled?.()) {
        release(key);
        job.drop();
        continue;
      }
      running++;
      job.start();
    }
  };

  return {
    run(key, work, cancelled) {
      if (queued >= options.maxQueued || (perKey.get(key) ?? 0) >= options.maxPerKey) {
        const waitMs = Math.max(1, Math.ceil(((queued + running) / options.maxConcurrent) * averageMs));
        const trailers = new Metadata();
        trailers.set('grpc-retry-pushback-ms', String(waitMs));
        return Promise.reject(new GrpcError(status.RESOURCE_EXHAUSTED, HASH_QUEUE_FULL_MESSAGE, trailers, [], [{ type: 'RetryInfo', retryDelayMs: waitMs }]));
      }
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      return new Promise((resolve, reject) => {
        const job: Job = {
          cancelled,
          drop: () => reject(new GrpcError(status.CANCELLED, 'call cancelled')),
          start: () => {
            const began = performance.now();
            work()
              .then(resolve, reject)
              .finally(() => {
                averageMs = 0.8 * averageMs + 0.2 * (performance.now() - began);
                running--;
                release(key);
                dispatch();
              });
          },
        };
        let jobs = queues.get(key);
        if (!jobs) {
          jobs = [];
          queues.set(key, jobs);
          // A key with nothing waiting goes first: a flood from one key cannot push it back.
          rotation.unshift(key);
        }
        jobs.push(job);
        queued++;
        dispatch();
      });
    },
    stats: () => ({ running, queued }),
  };
}
