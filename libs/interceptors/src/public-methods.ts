/**
 * The methods a caller may use without an access token, in one place: the auth interceptor
 * skips them and the authorization policy never sees them. Everything else needs a valid
 * Bearer token (deny by default).
 *
 * Patterns use the full method path ("/package.Service/Method") with the wildcard forms of
 * gRPC's authorization policy (gRFC A43, `request.paths`): an exact path, "prefix*", "*suffix",
 * or "*" for every method.
 */

import { publicMethodPaths } from '@grpc-patterns/manifest';

/**
 * The public methods: the manifest's `publicMethods` (auth's Login, Register, Refresh: how a token is got;
 * GetPublicKeys: the JWKS others verify with), grpc.health.v1.Health (probes carry no token), and reflection
 * v1 and v1alpha (grpcurl and `buf curl` describe the API; no data in it).
 */
export const PUBLIC_METHODS: readonly string[] = Object.freeze([
  ...publicMethodPaths(),
  '/grpc.health.v1.Health/*',
  '/grpc.reflection.v1.ServerReflection/*',
  '/grpc.reflection.v1alpha.ServerReflection/*',
]);

/**
 * Matches a full method path ("/auth.v1.AuthService/Login") against a gRFC A43 path pattern:
 * "*" matches everything, "prefix*" a prefix, "*suffix" a suffix, anything else exactly.
 * Case-sensitive, as gRPC method paths are.
 */
export function matchesMethodPattern(path: string, pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return path.startsWith(pattern.slice(0, -1));
  if (pattern.startsWith('*')) return path.endsWith(pattern.slice(1));
  return path === pattern;
}

/** True when `path` matches any of `patterns` (default {@link PUBLIC_METHODS}). */
export function isPublicMethod(path: string, patterns: readonly string[] = PUBLIC_METHODS): boolean {
  return patterns.some((pattern) => matchesMethodPattern(path, pattern));
}
