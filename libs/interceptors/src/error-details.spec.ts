// The richer error model end to end: handlers throw GrpcErrors, grpc-kit's toStatus encodes
// google.rpc.Status into grpc-status-details-bin, and a real client decodes it.
import { closeAllChannels, encodeStatusDetails, GrpcError, invalidArgument, serverStreaming, unary, unaryCall, type ErrorDetail } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, googleRpc } from '@grpc-patterns/proto';
import { collect, expectStatus, grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { decodeStatusDetails, DETAIL_TYPE_URLS, richStatus, STATUS_DETAILS_KEY } from './error-details.js';

// What the handlers throw, by the user id / origin the test sends.
const failures: Record<string, () => Error> = {
  violations: () =>
    invalidArgument([
      { field: 'items[0].quantity', description: 'must be at least 1' },
      { field: 'user_id', description: 'must be a UUID', reason: 'INVALID_FORMAT' },
    ]),
  retry: () =>
    new GrpcError(grpc.status.UNAVAILABLE, 'try again later', undefined, undefined, [
      { type: 'RetryInfo', retryDelayMs: 1_500 },
      { type: 'ErrorInfo', reason: 'BACKEND_DOWN', domain: 'orders.grpc-patterns', metadata: { backend: 'postgres' } },
    ]),
  plain: () => new GrpcError(grpc.status.NOT_FOUND, 'user "u1" not found'),
  mismatched: () => {
    const md = new grpc.Metadata();
    md.set(STATUS_DETAILS_KEY, encodeStatusDetails(grpc.status.INVALID_ARGUMENT, 'other', []));
    return new GrpcError(grpc.status.NOT_FOUND, 'not found', md);
  },
  unknownDetail: () => {
    const md = new grpc.Metadata();
    const help = googleRpc.Help.encode(googleRpc.Help.fromPartial({ links: [{ description: 'docs', url: 'https://example.test' }] })).finish();
    const st = googleRpc.Status.fromPartial({ code: grpc.status.FAILED_PRECONDITION, message: 'see the docs', details: [{ typeUrl: 'type.googleapis.com/google.rpc.Help', value: Buffer.from(help) }] });
    md.set(STATUS_DETAILS_KEY, Buffer.from(googleRpc.Status.encode(st).finish()));
    return new GrpcError(grpc.status.FAILED_PRECONDITION, 'see the docs', md);
  },
};
const fail = (key: string) => (failures[key] ?? (() => new Error('unknown case')))();

describe('rich error details (grpc-status-details-bin)', () => {
  let server: TestServer;
  let getUser: (userId: string) => Promise<unknown>;
  beforeAll(async () => {
    const notUsed = unary(async () => {
      throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
    });
    const auth: authV1.AuthServiceServer = {
      register: notUsed,
      login: notUsed,
      refresh: notUsed,
      getPublicKeys: notUsed,
      getUser: unary(async (call) => {
        throw fail(call.request.userId);
      }),
    };
    const analytics: analyticsV1.AnalyticsServiceServer = {
      streamFlights: serverStreaming(async (call) => {
        throw fail(call.request.origin);
      }),
      streamDelayStats: serverStreaming(async () => undefined),
    };
    server = await startTestServer({
      services: [
        { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: auth },
        { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation: analytics },
      ],
    });
    const client = server.client(authV1.AuthServiceClient);
    getUser = (userId) => unaryCall(client.getUser.bind(client), { userId });
  });
  afterAll(async () => {
    await server.close();
    closeAllChannels();
  });

  it('sends every invalidArgument as INVALID_ARGUMENT with a google.rpc.BadRequest whose message equals grpc-message', async () => {
    const error = await expectStatus(getUser('violations'));
    expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'items[0].quantity: must be at least 1; user_id: must be a UUID']);
    expect(decodeStatusDetails(error)).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      message: error.details,
      fieldViolations: [
        { field: 'items[0].quantity', description: 'must be at least 1' },
        { field: 'user_id', description: 'must be a UUID', reason: 'INVALID_FORMAT' },
      ],
      otherTypeUrls: [],
    });
  });

  it('does the same for streaming handlers', async () => {
    const client = server.client(analyticsV1.AnalyticsServiceClient);
    const error = await expectStatus(collect(client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial({ origin: 'violations' }))));
    expect(decodeStatusDetails(error)?.fieldViolations).toEqual([
      { field: 'items[0].quantity', description: 'must be at least 1' },
      { field: 'user_id', description: 'must be a UUID', reason: 'INVALID_FORMAT' },
    ]);
  });

  it('carries RetryInfo and ErrorInfo details', async () => {
    const error = await expectStatus(getUser('retry'));
    expect(decodeStatusDetails(error)).toEqual({
      code: grpc.status.UNAVAILABLE,
      message: 'try again later',
      retryDelayMs: 1_500,
      errorInfo: { reason: 'BACKEND_DOWN', domain: 'orders.grpc-patterns', metadata: { backend: 'postgres' } },
      otherTypeUrls: [],
    });
  });

  it('sends no trailer for an error without details', async () => {
    const error = await expectStatus(getUser('plain'));
    expect([error.code, error.details]).toEqual([grpc.status.NOT_FOUND, 'user "u1" not found']);
    expect(error.metadata.get(STATUS_DETAILS_KEY)).toEqual([]);
    expect(decodeStatusDetails(error)).toBeUndefined();
  });

  it('refuses a Status whose code differs from the call status', async () => {
    const error = await expectStatus(getUser('mismatched'));
    expect(() => decodeStatusDetails(error)).toThrow('grpc-status-details-bin has code 3 but the call ended with 5');
  });

  it('keeps the type URLs of details it does not decode', async () => {
    const error = await expectStatus(getUser('unknownDetail'));
    expect(decodeStatusDetails(error)).toEqual({ code: grpc.status.FAILED_PRECONDITION, message: 'see the docs', otherTypeUrls: ['type.googleapis.com/google.rpc.Help'] });
  });
});

describe('richStatus', () => {
  it('builds the status an interceptor sends, with the standard type URLs', () => {
    const trailers = new grpc.Metadata();
    trailers.set('grpc-retry-pushback-ms', '250');
    const details: ErrorDetail[] = [{ type: 'RetryInfo', retryDelayMs: 250 }];
    const st = richStatus(grpc.status.RESOURCE_EXHAUSTED, 'slow down', details, trailers);
    expect([st.code, st.details, st.metadata.get('grpc-retry-pushback-ms')]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 'slow down', ['250']]);
    const raw = googleRpc.Status.decode(st.metadata.get(STATUS_DETAILS_KEY)[0] as Buffer);
    expect(raw.details.map((d) => d.typeUrl)).toEqual([DETAIL_TYPE_URLS.RetryInfo]);
    expect(googleRpc.RetryInfo.decode(raw.details[0]?.value ?? Buffer.alloc(0)).retryDelay).toEqual({ seconds: '0', nanos: 250_000_000 });
    expect(trailers.get(STATUS_DETAILS_KEY)).toEqual([]); // the caller's metadata is not changed
    expect(richStatus(grpc.status.NOT_FOUND, 'gone').metadata.get(STATUS_DETAILS_KEY)).toEqual([]);
  });
});
