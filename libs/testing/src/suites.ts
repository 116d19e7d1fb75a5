/**
 * The one rule for suites that need something from outside the repo (a server URL, a Debian
 * binary): they run when it is there; elsewhere they are skipped with the reason printed; and
 * under CI=true, where .ci/run provides everything, they always run, so a missing piece fails
 * the run instead of quietly skipping it.
 */

/** Whether suites must run whatever is missing: CI=true. */
export const SUITES_MUST_RUN = process.env['CI'] === 'true';

interface JestDescribe {
  (name: string, body: () => void): void;
  skip(name: string, body: () => void): void;
}

/**
 * `describe(name, body)` when `missing` is undefined or under CI=true, else `describe.skip` after
 * writing `SKIPPED "<name>": <missing>` to stderr (jest drops console output of a suite whose
 * tests are all skipped). Call it only from a spec (it uses jest's global `describe`).
 */
export function describeRequiring(name: string, missing: string | undefined, body: () => void): void {
  const describe = (globalThis as unknown as { describe: JestDescribe }).describe;
  if (missing === undefined || SUITES_MUST_RUN) return describe(name, body);
  process.stderr.write(`SKIPPED "${name}": ${missing}\n`);
  describe.skip(name, body);
}
