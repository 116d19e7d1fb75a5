#!/usr/bin/env node
// The `grpc-patterns` binary. Instrumentation first: when tracing is set up (interceptors
// issue) it goes here, before grpc loads through the imports below.
import { runCli } from './program.js';
import { processContext } from './context.js';

runCli(process.argv.slice(2), processContext()).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`grpc-patterns: ${error instanceof Error ? error.message : error}`);
    process.exitCode = 1;
  },
);
