// The chat service's environment: defaults and fail-fast messages.
import { ConfigError, parseConfig } from '@grpc-patterns/config';
import { chatConfigShape, parseChatConfig } from './config.js';

describe('chat config', () => {
  it('defaults to port 50054, metrics 9104 and 1000-event / 1000-member limits', () => {
    expect(parseConfig(chatConfigShape, {})).toMatchObject({
      GRPC_HOST: '0.0.0.0',
      GRPC_PORT: 50054,
      METRICS_PORT: 9104,
      AUTH_TARGET: 'ipv4:127.0.0.1:50051',
      LOG_LEVEL: 'info',
      SHUTDOWN_GRACE_MS: 10_000,
      MAX_PENDING_EVENTS: 1_000,
      MAX_ROOM_MEMBERS: 1_000,
    });
    expect(parseConfig(chatConfigShape, { MAX_PENDING_EVENTS: '5', MAX_ROOM_MEMBERS: '2' })).toMatchObject({ MAX_PENDING_EVENTS: 5, MAX_ROOM_MEMBERS: 2 });
  });

  it('leaves NATS_URL unset by default (in-process rooms) and accepts nats:// lists', () => {
    expect(parseConfig(chatConfigShape, {}).NATS_URL).toBeUndefined();
    expect(parseConfig(chatConfigShape, { NATS_URL: 'nats://127.0.0.1:4222,nats://10.0.0.2:4222' }).NATS_URL).toBe('nats://127.0.0.1:4222,nats://10.0.0.2:4222');
  });

  it('defaults the presence leases to a 15 s TTL renewed every 5 s in bucket CHAT_PRESENCE', () => {
    expect(parseChatConfig({})).toMatchObject({ PRESENCE_LEASE_TTL_MS: 15_000, PRESENCE_HEARTBEAT_MS: 5_000, PRESENCE_BUCKET: 'CHAT_PRESENCE' });
    expect(parseChatConfig({ PRESENCE_LEASE_TTL_MS: '3000', PRESENCE_HEARTBEAT_MS: '1500' })).toMatchObject({ PRESENCE_LEASE_TTL_MS: 3_000, PRESENCE_HEARTBEAT_MS: 1_500 });
  });

  it('takes member names from the token unless CHAT_IDENTITY=name', () => {
    expect([parseChatConfig({}).CHAT_IDENTITY, parseChatConfig({ CHAT_IDENTITY: 'name' }).CHAT_IDENTITY]).toEqual(['token', 'name']);
    expect(() => parseChatConfig({ CHAT_IDENTITY: 'jwt' })).toThrow('CHAT_IDENTITY: must be one of name, token (got "jwt")');
  });

  it('rejects a heartbeat longer than half the lease TTL, naming PRESENCE_HEARTBEAT_MS', () => {
    expect(() => parseChatConfig({ PRESENCE_LEASE_TTL_MS: '3000', PRESENCE_HEARTBEAT_MS: '1501' })).toThrow(
      new ConfigError('PRESENCE_HEARTBEAT_MS', 'must be at most half of PRESENCE_LEASE_TTL_MS (3000) (got "1501")'),
    );
  });

  it.each([
    ['PRESENCE_LEASE_TTL_MS', '999', 'PRESENCE_LEASE_TTL_MS: must be at least 1000 (got "999")'],
    ['PRESENCE_LEASE_TTL_MS', '15s', 'PRESENCE_LEASE_TTL_MS: must be a whole number of milliseconds (got "15s")'],
    ['PRESENCE_HEARTBEAT_MS', '99', 'PRESENCE_HEARTBEAT_MS: must be at least 100 (got "99")'],
    ['PRESENCE_BUCKET', 'chat.presence', 'PRESENCE_BUCKET: must be 1-64 characters of [a-zA-Z0-9_-] (a NATS KV bucket name) (got "chat.presence")'],
    ['NATS_URL', 'redis://127.0.0.1:6379', 'NATS_URL: must be nats://host:port (or tls://), comma-separated for several (got "redis://127.0.0.1:6379")'],
    ['MAX_PENDING_EVENTS', '0', 'MAX_PENDING_EVENTS: must be at least 1 (got "0")'],
    ['MAX_PENDING_EVENTS', 'many', 'MAX_PENDING_EVENTS: must be a whole number (got "many")'],
    ['MAX_ROOM_MEMBERS', '1.5', 'MAX_ROOM_MEMBERS: must be a whole number (got "1.5")'],
  ])('rejects %s=%s with one line naming it', (name, value, message) => {
    // toThrow(error) compares the message exactly.
    expect(() => parseConfig(chatConfigShape, { [name]: value })).toThrow(new ConfigError(name, message.slice(name.length + 2)));
    expect(() => parseConfig(chatConfigShape, { [name]: value })).toThrow(message);
  });
});
