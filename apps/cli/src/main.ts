#!/usr/bin/env node
// The `grpc-patterns` binary: a client, so it sets up no tracing of its own; its calls carry
// request ids and tokens through the interceptors in clients.ts.
import { registerDiscovery } from '@grpc-patterns/discovery';
import { runCli } from './program.js';
import { processContext } from './context.js';

// `grpc-patterns delay-stats ... | head -3`: the reader went away; stop quietly, like Unix tools.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

// *_TARGET may name etcd:///<service> or consul://host:port/<service> (docs/discovery.md).
registerDiscovery({ ETCD_ENDPOINTS: process.env.ETCD_ENDPOINTS || undefined, CONSUL_HTTP_ADDR: process.env.CONSUL_HTTP_ADDR || undefined });

runCli(process.argv.slice(2), processContext()).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`grpc-patterns: ${error instanceof Error ? error.message : error}`);
    process.exitCode = 1;
  },
);
