import type { AuthStore, UserRecord } from './store';
import { withUserCache } from './user-cache';

const ALICE: UserRecord = { id: '00000000-0000-4000-8000-00000000000a', username: 'alice', displayName: 'Alice', passwordHash: 'h1', roles: ['user'], createTime: new Date('2026-01-01T00:00:00Z') };

/** A store holding users in a Map, counting lookups by id. */
function countingStore(): AuthStore & { lookups: number; rows: Map<string, UserRecord> } {
  const rows = new Map<string, UserRecord>([[ALICE.id, { ...ALICE }]]);
  const unused = () => Promise.reject(new Error('not used here'));
  const store = {
    lookups: 0,
    rows,
    createUser: unused,
    findUserByUsername: unused,
    async findUserById(id: string) {
      store.lookups++;
      const row = rows.get(id);
      return row && { ...row, roles: [...row.roles] };
    },
    async updatePasswordHash(id: string, passwordHash: string) {
      const row = rows.get(id);
      if (row) row.passwordHash = passwordHash;
    },
    addSigningKey: unused,
    listSigningKeys: unused,
    createRefreshFamily: unused,
    rotateRefreshToken: unused,
    close: async () => undefined,
  };
  return store;
}

describe('withUserCache', () => {
  it('answers a second lookup of the same id from memory, with an equal copy', async () => {
    const store = countingStore();
    const cached = withUserCache(store);
    const first = await cached.findUserById(ALICE.id);
    const second = await cached.findUserById(ALICE.id);
    expect(second).toEqual(ALICE);
    expect(second).not.toBe(first);
    expect(store.lookups).toBe(1);
  });

  it('does not cache a miss', async () => {
    const store = countingStore();
    const cached = withUserCache(store);
    const id = '00000000-0000-4000-8000-00000000000b';
    expect(await cached.findUserById(id)).toBeUndefined();
    store.rows.set(id, { ...ALICE, id, username: 'bob' });
    expect((await cached.findUserById(id))?.username).toBe('bob');
    expect(store.lookups).toBe(2);
  });

  it('drops a user whose password hash changes, so the next lookup reads the new row', async () => {
    const store = countingStore();
    const cached = withUserCache(store);
    await cached.findUserById(ALICE.id);
    await cached.updatePasswordHash(ALICE.id, 'h2');
    expect((await cached.findUserById(ALICE.id))?.passwordHash).toBe('h2');
    expect(store.lookups).toBe(2);
  });

  it('a caller changing the returned user does not change the cached one', async () => {
    const cached = withUserCache(countingStore());
    const user = await cached.findUserById(ALICE.id);
    user?.roles.push('admin');
    expect((await cached.findUserById(ALICE.id))?.roles).toEqual(['user']);
  });

  it('0 entries is no cache', async () => {
    const store = countingStore();
    const cached = withUserCache(store, 0);
    await cached.findUserById(ALICE.id);
    await cached.findUserById(ALICE.id);
    expect(store.lookups).toBe(2);
  });
});
