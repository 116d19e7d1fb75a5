/**
 * jest `describe` for suites that need the Debian tools of src/binaries.ts.
 */
import { describeRequiring } from '@grpc-patterns/testing';
import { missingTools, type Tool } from '../src/binaries';

/**
 * `describe` when every tool exists or CI=true (where a missing one then fails the suite), else
 * `describe.skip` after printing why.
 */
export function describeWithTools(name: string, tools: Tool[], body: () => void): void {
  describeRequiring(name, missingTools(tools), body);
}
