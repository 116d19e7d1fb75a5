/**
 * A read-through cache of users by id in front of the store (GetUser and Refresh look users up
 * by id on every call). Correct because auth is its store's only writer: PGlite is one process
 * per data directory, and the only change to a user row after it is created goes through
 * `updatePasswordHash`, which drops the entry. Misses are not cached. See README "Explanation".
 */
import { LRUCache } from 'lru-cache';
import type { AuthStore, UserRecord } from './store.js';

/** Users kept by default: 10,000 (about 5 MiB). */
export const DEFAULT_USER_CACHE_ENTRIES = 10_000;

/** `store` with findUserById answered from a bounded LRU of at most `maxEntries` users (0 = no cache). */
export function withUserCache(store: AuthStore, maxEntries = DEFAULT_USER_CACHE_ENTRIES): AuthStore {
  if (maxEntries <= 0) return store;
  const users = new LRUCache<string, UserRecord>({ max: maxEntries });
  const copy = (user: UserRecord): UserRecord => ({ ...user, roles: [...user.roles], createTime: new Date(user.createTime) });
  return {
    ...store,
    async findUserById(id) {
      const hit = users.get(id);
      if (hit) return copy(hit);
      const user = await store.findUserById(id);
      if (user) users.set(id, copy(user));
      return user;
    },
    async updatePasswordHash(id, passwordHash) {
      // Dropped before and after: a lookup that reads the old row during the update cannot keep it.
      users.delete(id);
      await store.updatePasswordHash(id, passwordHash);
      users.delete(id);
    },
  };
}
