// Request validation over real calls of all four shapes: rules registered once per method,
// INVALID_ARGUMENT with a google.rpc.BadRequest decoded by the client, every stream message checked.
import { bidiStreaming, clientStreaming, closeAllChannels, GrpcError, serverStreaming, unary, unaryCall, writeMessage, type FieldViolation, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import { analyticsV1, authV1, chatV1, metricsV1 } from '@grpc-patterns/proto';
import { collect, expectStatus, grpc, startTestServer, type TestServer } from '@grpc-patterns/testing';
import { decodeStatusDetails } from './error-details.js';
import { parsedRequest, ValidationRegistry, validationInterceptor, type Checked } from './validation.js';

const required = (field: string, value: string): FieldViolation[] => (value === '' ? [{ field, description: 'must not be empty' }] : []);

const registry = new ValidationRegistry()
  .add(authV1.AuthServiceService.getUser, (r) => required('user_id', r.userId))
  .add(analyticsV1.AnalyticsServiceService.streamFlights, (r) => [
    ...(r.origin !== '' && !/^[A-Z]{3}$/.test(r.origin) ? [{ field: 'origin', description: 'must be a 3-letter IATA code' }] : []),
    ...(r.limit > 1000 ? [{ field: 'limit', description: 'must be at most 1000' }] : []),
  ])
  .add(metricsV1.MetricsServiceService.uploadMetrics, (r) => [...required('name', r.name), ...(Number.isFinite(r.value) ? [] : [{ field: 'value', description: 'must be finite' }])])
  .add(chatV1.ChatServiceService.chat, (r) => (r.action?.$case === 'send' ? required('send.text', r.action.send.text) : []))
  .add('/auth.v1.AuthService/Refresh', () => {
    throw new Error('validator bug');
  });

/** Handlers of the four shapes; `handled` counts calls that reached one. */
function shapeServices(counter: { handled: number; messages: number }): ServiceRegistration[] {
  const notUsed = unary(async () => {
    throw new GrpcError(grpc.status.UNIMPLEMENTED, 'not in this test');
  });
  const auth: authV1.AuthServiceServer = {
    register: notUsed,
    refresh: notUsed,
    getPublicKeys: notUsed,
    login: unary(async () => authV1.LoginResponse.fromPartial({})),
    getUser: unary(async (call) => {
      counter.handled++;
      return authV1.GetUserResponse.fromPartial({ user: { id: call.request.userId } });
    }),
  };
  const analytics: analyticsV1.AnalyticsServiceServer = {
    streamFlights: serverStreaming(async (call) => {
      counter.handled++;
      await writeMessage(call, analyticsV1.StreamFlightsResponse.fromPartial({ rowsScanned: '1' }));
    }),
    streamDelayStats: serverStreaming(async () => undefined),
  };
  const metrics: metricsV1.MetricsServiceServer = {
    uploadMetrics: clientStreaming(async (call) => {
      counter.handled++;
      let n = 0;
      for await (const _point of call) n++;
      return metricsV1.UploadMetricsResponse.fromPartial({ receivedCount: String(n) });
    }),
  };
  const chat: chatV1.ChatServiceServer = {
    chat: bidiStreaming(async (call) => {
      counter.handled++;
      for await (const _request of call.iterator({ destroyOnReturn: false })) await writeMessage(call, chatV1.ChatResponse.fromPartial({ room: 'r' }));
    }),
  };
  return [
    { name: 'auth.v1.AuthService', definition: authV1.AuthServiceService, implementation: auth },
    { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation: analytics },
    { name: 'metrics.v1.MetricsService', definition: metricsV1.MetricsServiceService, implementation: metrics },
    { name: 'chat.v1.ChatService', definition: chatV1.ChatServiceService, implementation: chat },
  ];
}

const point = (name: string, value = 1) => metricsV1.UploadMetricsRequest.fromPartial({ name, value });
const say = (text: string) => chatV1.ChatRequest.fromPartial({ action: { $case: 'send', send: { text } } });

describe('validationInterceptor', () => {
  let server: TestServer;
  // `messages` counts the request messages that got past validation (an interceptor inside it
  // sees exactly those); `handled` the calls that reached a handler.
  const counter = { handled: 0, messages: 0 };
  const countMessages: grpc.ServerInterceptor = (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => {
            counter.messages++;
            nextMessage(message);
          },
        }),
    });
  const reported: string[] = [];
  beforeAll(async () => {
    server = await startTestServer({
      services: shapeServices(counter),
      interceptors: [validationInterceptor(registry, { report: (e, path) => reported.push(`${path}: ${(e as Error).message}`) }), countMessages],
    });
  });
  afterAll(async () => {
    await server.close();
    closeAllChannels();
  });
  beforeEach(() => {
    counter.handled = 0;
    counter.messages = 0;
  });

  const getUser = (userId: string) => {
    const client = server.client(authV1.AuthServiceClient);
    return unaryCall(client.getUser.bind(client), { userId });
  };
  const streamFlights = (request: Partial<analyticsV1.StreamFlightsRequest>) => {
    const client = server.client(analyticsV1.AnalyticsServiceClient);
    return collect(client.streamFlights(analyticsV1.StreamFlightsRequest.fromPartial(request)));
  };
  const upload = (points: metricsV1.UploadMetricsRequest[]) => {
    const client = server.client(metricsV1.MetricsServiceClient);
    return new Promise<metricsV1.UploadMetricsResponse>((resolve, reject) => {
      const stream = client.uploadMetrics((error, response) => (error ? reject(error) : resolve(response)));
      for (const p of points) stream.write(p);
      stream.end();
    });
  };
  const chat = (requests: chatV1.ChatRequest[]) => {
    const client = server.client(chatV1.ChatServiceClient);
    const stream = client.chat();
    const done = collect(stream);
    for (const r of requests) stream.write(r);
    stream.end();
    return done;
  };

  it('lets valid requests through on all four call shapes', async () => {
    expect((await getUser('u1')).user?.id).toBe('u1');
    expect(await streamFlights({ origin: 'SFO' })).toHaveLength(1);
    expect((await upload([point('a'), point('b')])).receivedCount).toBe('2');
    expect(await chat([say('hi'), say('there')])).toHaveLength(2);
    // one message each for unary and server stream, two each for the client and bidi streams
    expect([counter.handled, counter.messages]).toEqual([4, 6]);
  });

  it('answers a bad unary request with INVALID_ARGUMENT and BadRequest, before the handler', async () => {
    const error = await expectStatus(getUser(''));
    expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'user_id: must not be empty']);
    expect(decodeStatusDetails(error)).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      message: 'user_id: must not be empty',
      fieldViolations: [{ field: 'user_id', description: 'must not be empty' }],
      otherTypeUrls: [],
    });
    expect([counter.handled, counter.messages]).toEqual([0, 0]);
  });

  it('names every bad field of a server-streaming request', async () => {
    const error = await expectStatus(streamFlights({ origin: 'sfo', limit: 5000 }));
    expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'origin: must be a 3-letter IATA code; limit: must be at most 1000']);
    expect(decodeStatusDetails(error)?.fieldViolations).toEqual([
      { field: 'origin', description: 'must be a 3-letter IATA code' },
      { field: 'limit', description: 'must be at most 1000' },
    ]);
    expect(counter.handled).toBe(0);
  });

  it('checks every client-stream message and ends the call at the first bad one', async () => {
    const error = await expectStatus(upload([point('a'), point('b'), point(''), point('d')]));
    expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'name: must not be empty']);
    expect(decodeStatusDetails(error)?.fieldViolations).toEqual([{ field: 'name', description: 'must not be empty' }]);
    expect(counter.messages).toBe(2); // the bad message and the one after it never get past validation
  });

  it('checks every bidi message', async () => {
    const error = await expectStatus(chat([say('hi'), say(''), say('never seen')]));
    expect([error.code, error.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'send.text: must not be empty']);
    expect(decodeStatusDetails(error)?.fieldViolations).toEqual([{ field: 'send.text', description: 'must not be empty' }]);
    expect(counter.messages).toBe(1);
  });

  it('leaves methods without rules alone, and hides a validator that throws behind INTERNAL', async () => {
    const client = server.client(authV1.AuthServiceClient);
    await expect(unaryCall(client.login.bind(client), { username: '', password: '' })).resolves.toBeDefined();
    const error = await expectStatus(unaryCall(client.refresh.bind(client), { refreshToken: 'x' }));
    expect([error.code, error.details]).toEqual([grpc.status.INTERNAL, 'internal error']);
    expect(reported).toEqual(['/auth.v1.AuthService/Refresh: validator bug']);
  });
});

describe('ValidationRegistry', () => {
  it('keeps one validator per method', () => {
    const r = new ValidationRegistry().add(authV1.AuthServiceService.getUser, () => []);
    expect(() => r.add('/auth.v1.AuthService/GetUser', () => [])).toThrow('validation rules for /auth.v1.AuthService/GetUser are already registered');
    expect(r.paths()).toEqual(['/auth.v1.AuthService/GetUser']);
  });
});

describe('ValidationRegistry.addParser and parsedRequest', () => {
  /** user_id parsed to upper case; `runs` counts how often the rule ran. */
  const runs = { count: 0 };
  const parseUserId = (r: authV1.GetUserRequest): Checked<string> => {
    runs.count++;
    return r.userId === '' ? { violations: [{ field: 'user_id', description: 'must not be empty' }] } : { value: r.userId.toUpperCase() };
  };
  /** A server whose GetUser answers with the parsed user id, behind the interceptor or not. */
  const serveGetUser = (interceptors: grpc.ServerInterceptor[]) =>
    startTestServer({
      services: [
        {
          name: 'auth.v1.AuthService',
          definition: authV1.AuthServiceService,
          implementation: { getUser: unary(async (call: grpc.ServerUnaryCall<authV1.GetUserRequest, authV1.GetUserResponse>) => authV1.GetUserResponse.fromPartial({ user: { id: parsedRequest(call.request, parseUserId) } })) },
        },
      ],
      interceptors,
    });
  const getUser = (server: TestServer, userId: string) => {
    const client = server.client(authV1.AuthServiceClient);
    return unaryCall(client.getUser.bind(client), { userId });
  };
  afterAll(() => closeAllChannels());
  beforeEach(() => {
    runs.count = 0;
  });

  it.each([
    ['behind the validation interceptor', true],
    ['without it', false],
  ])('%s: the handler gets the parsed value, the rule runs once per call, a bad request is INVALID_ARGUMENT with a BadRequest', async (_where, withInterceptor) => {
    const rules = new ValidationRegistry().addParser(authV1.AuthServiceService.getUser, parseUserId);
    const server = await serveGetUser(withInterceptor ? [validationInterceptor(rules)] : []);
    try {
      const ok = await getUser(server, 'ada');
      expect([ok.user?.id, runs.count]).toEqual(['ADA', 1]);
      const error = await expectStatus(getUser(server, ''));
      expect([error.code, error.details, decodeStatusDetails(error)?.fieldViolations, runs.count]).toEqual([
        grpc.status.INVALID_ARGUMENT,
        'user_id: must not be empty',
        [{ field: 'user_id', description: 'must not be empty' }],
        2,
      ]);
    } finally {
      await server.close();
    }
  });

  it('registers the parser as the method\'s validator; a kept value is only handed to the same parser', () => {
    const rules = new ValidationRegistry().addParser(authV1.AuthServiceService.getUser, parseUserId);
    const message = authV1.GetUserRequest.fromPartial({ userId: 'ada' });
    expect(rules.get('/auth.v1.AuthService/GetUser')?.(message)).toEqual([]);
    expect(parsedRequest(message, parseUserId)).toBe('ADA');
    expect(parsedRequest(message, (r) => ({ value: r.userId.length }))).toBe(3);
    expect(() => rules.addParser('/auth.v1.AuthService/GetUser', parseUserId)).toThrow('validation rules for /auth.v1.AuthService/GetUser are already registered');
    expect(runs.count).toBe(1);
  });
});
