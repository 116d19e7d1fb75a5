import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { grpc } from '@grpc-patterns/testing';
import { SHAPES, startShapeServer, type ShapeServer } from '../test/four-shapes.js';
import { acceptRequestId, requestIdInterceptor } from './request-id.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('requestIdInterceptor', () => {
  let server: ShapeServer;
  beforeEach(async () => {
    server = await startShapeServer([requestIdInterceptor()]);
  });
  afterEach(async () => {
    await server.close();
    closeAllChannels();
  });

  describe.each(SHAPES)('%s', (shape) => {
    it('keeps a valid id, returns it in the response headers, and shows it to the handler and the call context', async () => {
      const result = await server.call(shape, { metadata: { 'x-request-id': 'abc-123_X.y' } });
      expect(grpc.status[result.code]).toBe('OK');
      expect(result.headers?.get('x-request-id')).toEqual(['abc-123_X.y']);
      expect(server.observed.metadata[0].get('x-request-id')).toEqual(['abc-123_X.y']);
      expect(server.observed.contexts[0]?.requestId).toBe('abc-123_X.y');
    });

    it('replaces a malformed id with a UUID, also on a trailers-only error', async () => {
      const result = await server.call(shape, { metadata: { 'x-request-id': 'bad id <with> spaces' }, mode: 'invalid' });
      expect(grpc.status[result.code]).toBe('INVALID_ARGUMENT');
      expect(result.headers).toBeUndefined();
      const [id] = result.trailers.get('x-request-id') as string[];
      expect(id).toMatch(UUID);
      expect(server.observed.contexts[0]?.requestId).toBe(id);
    });
  });

  it('accepts 1..128 characters of [A-Za-z0-9._-] only', () => {
    expect(acceptRequestId('a'.repeat(128))).toBe('a'.repeat(128));
    expect(acceptRequestId('a'.repeat(129))).toMatch(UUID);
    expect(acceptRequestId('')).toMatch(UUID);
    expect(acceptRequestId('x\ny')).toMatch(UUID);
    expect(acceptRequestId(undefined)).toMatch(UUID);
  });
});
