// grpc-kit's per-method decode limits through a real in-process server: an oversize message is
// RESOURCE_EXHAUSTED and a precheck violation INVALID_ARGUMENT with a BadRequest, both before
// the handler (and the generated decoder) see the message; the wire walker on real encodings.
import { authV1, googleRpc, metricsV1 } from '@grpc-patterns/proto';
import { clientStreaming, countFields, GrpcError, unary, walkFields, withDecodeLimit } from '@grpc-patterns/grpc-kit';
import { expectStatus, grpc, startTestServer, type TestServer } from './index.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function badRequest(error: grpc.ServiceError): Array<{ field: string; description: string }> {
  const raw = error.metadata.get('grpc-status-details-bin')[0] as Buffer;
  return googleRpc.Status.decode(raw).details.flatMap((d) => googleRpc.BadRequest.decode(d.value).fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}

describe('withDecodeLimit', () => {
  it('refuses a unary request over its byte limit with RESOURCE_EXHAUSTED before the handler runs', async () => {
    let decoded = 0;
    let handled = 0;
    const definition = withDecodeLimit(authV1.AuthServiceService, {
      getUser: {
        maxBytes: 64,
        decode: (bytes) => {
          decoded++;
          return authV1.GetUserRequest.decode(bytes);
        },
      },
    });
    const notUsed = unary(async () => {
      throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
    });
    const implementation: authV1.AuthServiceServer = {
      register: notUsed,
      login: notUsed,
      refresh: notUsed,
      getPublicKeys: notUsed,
      getUser: unary(async (call) => {
        handled++;
        return { user: { id: call.request.userId, username: 'u', displayName: 'U', roles: [] } };
      }),
    };
    server = await startTestServer({ services: [{ name: 'auth.v1.AuthService', definition, implementation }] });
    const client = server.client(authV1.AuthServiceClient);
    const getUser = (userId: string) => new Promise<authV1.GetUserResponse>((resolve, reject) => client.getUser({ userId }, (e, r) => (e ? reject(e) : resolve(r))));

    // 2 bytes of tag and length + 62 of id = 64: the limit itself is decoded.
    await expect(getUser('a'.repeat(62))).resolves.toMatchObject({ user: { id: 'a'.repeat(62) } });
    const error = await expectStatus(getUser('a'.repeat(63)));
    expect([grpc.status[error.code], error.details]).toEqual(['RESOURCE_EXHAUSTED', 'request message of 65 bytes is over the limit of 64 bytes for GetUser']);
    expect([decoded, handled]).toEqual([1, 1]);
  });

  it('ends a client stream at the first message a precheck refuses, with INVALID_ARGUMENT and a BadRequest', async () => {
    const received: string[] = [];
    const definition = withDecodeLimit(metricsV1.MetricsServiceService, {
      uploadMetrics: {
        maxBytes: 1024 * 1024,
        precheck: (bytes) => {
          const labels = countFields(bytes, 4, 2);
          return labels > 2 ? [{ field: 'labels', description: 'more than 2 entries' }] : undefined;
        },
      },
    });
    const implementation: metricsV1.MetricsServiceServer = {
      uploadMetrics: clientStreaming(async (call) => {
        for await (const point of call as AsyncIterable<metricsV1.UploadMetricsRequest>) received.push(point.name);
        return metricsV1.UploadMetricsResponse.fromPartial({ receivedCount: String(received.length) });
      }),
    };
    server = await startTestServer({ services: [{ name: 'metrics.v1.MetricsService', definition, implementation }] });
    const client = server.client(metricsV1.MetricsServiceClient);
    const outcome = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = client.uploadMetrics((error) => resolve(error));
      call.write(metricsV1.UploadMetricsRequest.fromPartial({ name: 'ok', labels: { a: '1', b: '2' } }));
      call.write(metricsV1.UploadMetricsRequest.fromPartial({ name: 'bad', labels: { a: '1', b: '2', c: '3' } }));
      call.write(metricsV1.UploadMetricsRequest.fromPartial({ name: 'after' }));
      call.end();
    });
    const error = await outcome;
    expect(error && [grpc.status[error.code], error.details]).toEqual(['INVALID_ARGUMENT', 'labels: more than 2 entries']);
    expect(badRequest(error as grpc.ServiceError)).toEqual([{ field: 'labels', description: 'more than 2 entries' }]);
    expect(received).toEqual(['ok']);
  });

  it('names an unknown method and a bad maxBytes', () => {
    expect(() => withDecodeLimit(authV1.AuthServiceService, { nope: { maxBytes: 1 } } as never)).toThrow('withDecodeLimit: nope is not a method of this service');
    expect(() => withDecodeLimit(authV1.AuthServiceService, { login: { maxBytes: 0 } })).toThrow('withDecodeLimit: login.maxBytes must be a positive integer');
  });
});

describe('walkFields / countFields', () => {
  const point = Buffer.from(
    metricsV1.UploadMetricsRequest.encode(metricsV1.UploadMetricsRequest.fromPartial({ name: 'cpu', value: 1.5, time: new Date(0), labels: { a: '1', b: '', c: '3' } })).finish(),
  );

  it('visits each top-level field with its wire type and payload bounds, without decoding', () => {
    const seen: Array<[number, number, string]> = [];
    expect(walkFields(point, (field, wireType, start, end) => void seen.push([field, wireType, field === 1 ? point.subarray(start, end).toString() : String(end - start)]))).toBe(true);
    expect(seen.map(([f, w]) => [f, w])).toEqual([
      [1, 2],
      [2, 1],
      [3, 2],
      [4, 2],
      [4, 2],
      [4, 2],
    ]);
    expect(seen[0][2]).toBe('cpu');
  });

  it('counts a repeated or map field, stops past stopAfter, and returns -1 for malformed bytes', () => {
    expect(countFields(point, 4)).toBe(3);
    expect(countFields(point, 4, 1)).toBe(2);
    expect(countFields(point, 9)).toBe(0);
    expect(countFields(point.subarray(0, point.length - 1), 4)).toBe(-1);
    expect(countFields(Buffer.from([0x0f, 0x01]), 1)).toBe(-1);
    expect(countFields(Buffer.from([0x08, 0xff, 0xff]), 1)).toBe(-1);
  });
});
