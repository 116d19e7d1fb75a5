/**
 * Authorization: a per-method policy shaped like gRPC's authorization policy (gRFC A43,
 * "gRPC Authorization Policy", the JSON that grpc-go's `authz` package and grpc-core's
 * `grpc_authorization_policy_provider` read): named deny rules and allow rules, each matching
 * a source (who) and a request (which method paths).
 *
 * Evaluation as in A43: if any deny rule matches, PERMISSION_DENIED; else if any allow rule
 * matches, the call goes on; else PERMISSION_DENIED (deny by default). Within a rule, `source`
 * and `request` must both match; within a list, any entry matches. Public methods
 * (public-methods.ts) bypass the policy, like they bypass authentication.
 *
 * Differences from A43: principals are our user ids (the token's `sub`) rather than TLS
 * identities, and `source.roles` (not in A43) matches the token's `roles` claim. A43's
 * header matchers are left out.
 */
import * as grpc from '@grpc/grpc-js';
import { GrpcError, toStatus } from '@grpc-patterns/grpc-kit';
import type { AuthUser } from './auth.js';
import { callContext, recordStatus, runInCallContext } from './call-context.js';
import { isPublicMethod, matchesMethodPattern, PUBLIC_METHODS } from './public-methods.js';

/** Who a rule applies to. Absent or empty lists match anyone authenticated. */
export interface AuthorizationSource {
  /** User ids (`sub`); "*" matches any authenticated user (A43 `principals`). */
  principals?: string[];
  /** Roles from the token's `roles` claim; the user needs at least one of them (our extension). */
  roles?: string[];
}

/** Which calls a rule applies to. */
export interface AuthorizationRequest {
  /** Full method paths with A43 wildcards: "/orders.v1.OrderService/PlaceOrder", "/orders.v1.OrderService/*", "*". Absent: every method. */
  paths?: string[];
}

/** One named rule (A43 `Rule`). */
export interface AuthorizationRule {
  name: string;
  source?: AuthorizationSource;
  request?: AuthorizationRequest;
}

/** A43 `AuthorizationPolicy`, field names as in its JSON. */
export interface AuthorizationPolicy {
  name: string;
  deny_rules?: AuthorizationRule[];
  allow_rules: AuthorizationRule[];
}

/** The outcome of {@link evaluatePolicy}: allowed, or denied with the reason and the deny rule. */
export type AuthorizationDecision = { allowed: true; rule: string } | { allowed: false; reason: 'DENIED_BY_RULE'; rule: string } | { allowed: false; reason: 'NO_MATCHING_ALLOW_RULE' };

function ruleMatches(rule: AuthorizationRule, user: AuthUser, path: string): boolean {
  const paths = rule.request?.paths;
  if (paths && paths.length > 0 && !paths.some((p) => matchesMethodPattern(path, p))) return false;
  const principals = rule.source?.principals;
  if (principals && principals.length > 0 && !principals.some((p) => p === '*' || p === user.id)) return false;
  const roles = rule.source?.roles;
  if (roles && roles.length > 0 && !roles.some((r) => user.roles.includes(r))) return false;
  return true;
}

/** Evaluates `policy` for `user` calling `path` ("/pkg.Service/Method"): deny rules first, then allow, else denied. */
export function evaluatePolicy(policy: AuthorizationPolicy, user: AuthUser, path: string): AuthorizationDecision {
  const deny = (policy.deny_rules ?? []).find((rule) => ruleMatches(rule, user, path));
  if (deny) return { allowed: false, reason: 'DENIED_BY_RULE', rule: deny.name };
  const allow = policy.allow_rules.find((rule) => ruleMatches(rule, user, path));
  if (allow) return { allowed: true, rule: allow.name };
  return { allowed: false, reason: 'NO_MATCHING_ALLOW_RULE' };
}

/** The message of every PERMISSION_DENIED from {@link authzInterceptor} (which rule is in ErrorInfo). */
export const PERMISSION_DENIED_MESSAGE = 'permission denied';
/** ErrorInfo.domain of authorization errors. */
export const AUTHZ_ERROR_DOMAIN = 'authz.grpc-patterns';

/** Options of {@link authzInterceptor}. */
export interface AuthzInterceptorOptions {
  policy: AuthorizationPolicy;
  /** Methods that bypass the policy (default {@link PUBLIC_METHODS}, the same list auth skips). */
  publicMethods?: readonly string[];
  /** Called for every denial (log it: the client sees only the generic message and the reason). */
  onDenied?: (decision: Exclude<AuthorizationDecision, { allowed: true }>, path: string, user: AuthUser | undefined) => void;
}

/**
 * Server interceptor enforcing `policy` on the metadata, after auth: PERMISSION_DENIED "permission denied" with a
 * google.rpc.ErrorInfo (docs/errors.md "The details we send"); UNAUTHENTICATED "missing bearer token" when the call
 * context has no user (auth missing from the chain).
 */
export function authzInterceptor(options: AuthzInterceptorOptions): grpc.ServerInterceptor {
  const publicMethods = options.publicMethods ?? PUBLIC_METHODS;
  return (method, call) => {
    if (isPublicMethod(method.path, publicMethods)) return call as grpc.ServerInterceptingCall; // nothing to do for this method: no layer of its own
    const ctx = callContext(method, call);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            // The auth interceptor (earlier in the chain) put the verified user here.
            const user = ctx.user;
            let error: GrpcError | undefined;
            if (!user) {
              error = new GrpcError(grpc.status.UNAUTHENTICATED, 'missing bearer token');
            } else {
              const decision = evaluatePolicy(options.policy, user, method.path);
              if (decision.allowed) return runInCallContext(ctx, () => nextMetadata(metadata));
              options.onDenied?.(decision, method.path, user);
              const info: Record<string, string> = decision.reason === 'DENIED_BY_RULE' ? { method: method.path, rule: decision.rule } : { method: method.path };
              error = new GrpcError(grpc.status.PERMISSION_DENIED, PERMISSION_DENIED_MESSAGE, undefined, undefined, [
                { type: 'ErrorInfo', reason: decision.reason, domain: AUTHZ_ERROR_DOMAIN, metadata: info },
              ]);
            }
            const st = toStatus(error, () => undefined);
            recordStatus(ctx, st);
            call.sendStatus({ code: st.code, details: st.details, metadata: st.metadata ?? new grpc.Metadata() });
          },
        }),
    });
  };
}
