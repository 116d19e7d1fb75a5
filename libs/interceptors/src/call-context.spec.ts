import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { grpc } from '@grpc-patterns/testing';
import { PATHS, SHAPES, startShapeServer, until, type ShapeServer } from '../test/four-shapes.js';
import { currentCallContext, grpcType, splitMethodPath } from './call-context.js';
import { requestIdInterceptor } from './request-id.js';

describe('call context', () => {
  let server: ShapeServer;
  beforeEach(async () => {
    server = await startShapeServer([requestIdInterceptor()]);
  });
  afterEach(async () => {
    await server.close();
    closeAllChannels();
  });

  it.each(SHAPES)('%s: is active while the handler runs and when request messages arrive, and aborts at the end', async (shape) => {
    expect(grpc.status[(await server.call(shape, { metadata: { 'x-request-id': 'r-1' } })).code]).toBe('OK');
    const [ctx] = server.observed.contexts;
    expect(ctx).toMatchObject({ path: PATHS[shape], type: shape, requestId: 'r-1' });
    if (shape === 'client_stream' || shape === 'bidi_stream') {
      expect(server.observed.messageContexts).toHaveLength(3);
      expect(server.observed.messageContexts.every((c) => c === ctx)).toBe(true);
    }
    await until(() => ctx?.signal.aborted === true, 'signal aborted');
    expect(ctx?.signal.reason).toEqual({ code: grpc.status.OK, details: 'OK' });
    expect(currentCallContext()).toBeUndefined();
  });

  it('names shapes and splits paths as go-grpc-prometheus labels them', () => {
    expect(grpcType({ requestStream: false, responseStream: false })).toBe('unary');
    expect(grpcType({ requestStream: true, responseStream: false })).toBe('client_stream');
    expect(grpcType({ requestStream: false, responseStream: true })).toBe('server_stream');
    expect(grpcType({ requestStream: true, responseStream: true })).toBe('bidi_stream');
    expect(splitMethodPath('/auth.v1.AuthService/Login')).toEqual({ service: 'auth.v1.AuthService', method: 'Login' });
  });
});
