/**
 * The service manifest: every service of the repo, once. The runtime, the stack runner, the
 * CLI, the default authorization policy, the certificates, the bench, the reliability suites
 * and the deploy checks read it; docs/adding-a-service.md says how an entry is added.
 */
import type { ServiceManifest } from './manifest.js';

/** The services, in the order of the architecture table (docs/architecture.md). */
export const SERVICES = [
  {
    name: 'auth',
    fullName: 'auth.v1.AuthService',
    rpcShape: 'unary',
    grpcPort: 50051,
    metricsPort: 9101,
    publicMethods: ['Login', 'Register', 'Refresh', 'GetPublicKeys'],
    dependsOn: [],
    state: { kind: 'process', why: 'users and signing keys live in its own PGlite data dir, so a user registered on one replica could not log in on another' },
  },
  {
    name: 'analytics',
    fullName: 'analytics.v1.AnalyticsService',
    rpcShape: 'server-streaming',
    grpcPort: 50052,
    metricsPort: 9102,
    publicMethods: [],
    dependsOn: ['auth'],
    state: { kind: 'none' },
  },
  {
    name: 'metrics',
    fullName: 'metrics.v1.MetricsService',
    rpcShape: 'client-streaming',
    grpcPort: 50053,
    metricsPort: 9103,
    publicMethods: [],
    dependsOn: ['auth'],
    state: { kind: 'none' },
  },
  {
    name: 'chat',
    fullName: 'chat.v1.ChatService',
    rpcShape: 'bidi-streaming',
    grpcPort: 50054,
    metricsPort: 9104,
    publicMethods: [],
    dependsOn: ['auth'],
    state: { kind: 'process', why: 'rooms fan out in process, so users on different replicas would not see each other' },
  },
  {
    name: 'orders',
    fullName: 'orders.v1.OrderService',
    rpcShape: 'unary',
    grpcPort: 50055,
    metricsPort: 9105,
    publicMethods: [],
    dependsOn: ['auth'],
    state: {
      kind: 'process',
      why: 'orders and idempotency keys live in its own PGlite data dir, so a retry on another replica would place a second order',
      sharedBy: 'DATABASE_URL',
    },
  },
] as const satisfies readonly ServiceManifest[];
