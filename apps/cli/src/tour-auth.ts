/** Tour step 1. auth, unary (what it checks: tour.ts). */
import * as grpc from '@grpc/grpc-js';
import { unaryCall, unaryCallDetailed } from '@grpc-patterns/grpc-kit';
import { REQUEST_ID_KEY } from '@grpc-patterns/interceptors';
import { authV1 } from '@grpc-patterns/proto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { randomBytes } from 'node:crypto';
import { AUTHORIZATION_KEY, Clients } from './clients.js';
import { GENERATED_REQUEST_ID, type StepTools, type TourState, checkBadRequest, MISSING_TOKEN_MESSAGE, INVALID_TOKEN_MESSAGE } from './tour-step.js';

export async function authStep(clients: Clients, t: StepTools, runId: string, state: TourState): Promise<string> {
  const auth = clients.auth;
  const username = `tour_${runId}`.toLowerCase().slice(0, 32);
  const password = randomBytes(12).toString('base64url');
  const deadline = () => ({ deadline: clients.unaryDeadline() });

  const registered = await unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username, password, displayName: `Tour ${runId}` }), deadline());
  const user = registered.user;
  t.check(user?.username === username && !!user.id, `Register created ${username}`, `got ${JSON.stringify(user)}`);
  t.log(`user id ${user?.id}`);

  const login = await unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username, password }), deadline());
  t.check(login.user?.id === user?.id, 'Login returned the same user');
  const token = login.tokens?.accessToken ?? '';
  const expires = login.tokens?.accessTokenExpireTime;
  t.check(token.split('.').length === 3 && login.tokens?.tokenType === 'Bearer', 'Login issued a Bearer compact JWS', `token type ${login.tokens?.tokenType}`);
  t.check(!!expires && expires.getTime() > Date.now(), `access token expires in the future (${expires?.toISOString()})`);
  clients.useToken(token, user?.id);
  t.log('from here on every call carries "authorization: Bearer <access token>"');

  // The server chain: auth rejects calls without a (valid) token; request id runs before it.
  const getUser = authV1.GetUserRequest.fromPartial({ userId: user?.id ?? '' });
  const anonymous = state.anonymous;
  const rejected = await t.expectCode(unaryCall(anonymous.auth.getUser.bind(anonymous.auth), getUser, deadline()), grpc.status.UNAUTHENTICATED, 'GetUser without a token', MISSING_TOKEN_MESSAGE);
  const generatedId = rejected.metadata?.get(REQUEST_ID_KEY)[0];
  t.check(typeof generatedId === 'string' && GENERATED_REQUEST_ID.test(generatedId), `the rejection carries a generated ${REQUEST_ID_KEY} (${generatedId})`, `got ${String(generatedId)}`);
  const badToken = new grpc.Metadata();
  badToken.set(AUTHORIZATION_KEY, 'Bearer not.a-valid.token');
  await t.expectCode(unaryCall(auth.getUser.bind(auth), getUser, { ...deadline(), metadata: badToken }), grpc.status.UNAUTHENTICATED, 'GetUser with a malformed token', INVALID_TOKEN_MESSAGE);

  const sentId = `tour-${runId}-get-user`;
  const withId = new grpc.Metadata();
  withId.set(REQUEST_ID_KEY, sentId);
  const got = await unaryCallDetailed(auth.getUser.bind(auth), getUser, { ...deadline(), metadata: withId });
  t.check(got.response.user?.username === username, 'GetUser with the token found the user by id');
  const echoed = got.headers.get(REQUEST_ID_KEY)[0];
  t.check(echoed === sentId, `response header ${REQUEST_ID_KEY} echoes the one sent (${sentId})`, `got ${String(echoed)}`);

  const jwks = await unaryCall(auth.getPublicKeys.bind(auth), authV1.GetPublicKeysRequest.fromPartial({}), deadline());
  t.check(jwks.keys.length > 0, `GetPublicKeys returned ${jwks.keys.length} key(s): ${jwks.keys.map((k) => `${k.kid} ${k.alg}`).join(', ')}`);
  // Verify locally, as any service would: signature against the JWKS, plus iss, aud and exp.
  const keySet = createLocalJWKSet({ keys: jwks.keys.map((k) => ({ kty: k.kty, crv: k.crv, x: k.x, y: k.y, kid: k.kid, alg: k.alg, use: k.use })) });
  let verified: Awaited<ReturnType<typeof jwtVerify>>;
  try {
    verified = await jwtVerify(token, keySet, { issuer: jwks.issuer, audience: jwks.audience });
  } catch (error) {
    t.check(false, 'access token verifies against the JWKS (jose)', (error as Error).message);
    throw error;
  }
  t.check(verified.payload.sub === user?.id, `access token verified locally with jose (kid ${verified.protectedHeader.kid}, ${verified.protectedHeader.alg}, iss ${jwks.issuer}, aud ${jwks.audience}), sub = user id`);

  await t.expectCode(unaryCall(auth.login.bind(auth), authV1.LoginRequest.fromPartial({ username, password: `${password}-wrong` }), deadline()), grpc.status.UNAUTHENTICATED, 'Login with a wrong password');

  const invalid = await t.expectCode(
    unaryCall(auth.register.bind(auth), authV1.RegisterRequest.fromPartial({ username: 'A', password: 'short' }), deadline()),
    grpc.status.INVALID_ARGUMENT,
    'Register with a bad username and a short password',
    'username: must be 3-32 characters of a-z, 0-9, "_", "." and "-"; password: must be at least 8 characters',
  );
  checkBadRequest(t, invalid, [
    { field: 'username', description: 'must be 3-32 characters of a-z, 0-9, "_", "." and "-"' },
    { field: 'password', description: 'must be at least 8 characters' },
  ]);
  state.user = user;
  return `registered ${username}; ${verified.protectedHeader.alg} token verified locally; no/bad token UNAUTHENTICATED; request id echoed; BadRequest`;
}
