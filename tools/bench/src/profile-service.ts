/**
 * Where a service's time goes while a scenario's load runs: a second copy of the service with
 * V8's sampling profiler preloaded (profile-preload.ts), profiled over one run of the load (not
 * a measured run), its samples attributed as profile.ts does, plus how busy the process was
 * (CPU time over wall time: a service far from 100% is waiting on something else, not computing).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds, nowMs, round, sleep } from './measure.js';
import { attribute, type CpuProfile, type ProfileShare } from './profile.js';
import type { RunningService, Stack } from './stack.js';

/** What {@link profileWhile} found. */
export interface ServiceProfile {
  service: string;
  /** CPU time of the service over the load's wall time, % of one core. */
  busyPercent: number;
  /** Same for auth, which the load may call (orders' GetUser), % of one core. */
  authBusyPercent: number;
  shares: ProfileShare[];
}

/**
 * Starts `name` with `env` and the profiler, runs `load` against it with the profiler on, stops
 * it, and returns where its CPU went. @throws Error when no profile was written.
 */
export async function profileWhile(stack: Stack, name: string, env: Record<string, string>, load: (service: RunningService) => Promise<unknown>): Promise<ServiceProfile> {
  const file = join(stack.scratchDir, `${name}.cpuprofile`);
  const service = await stack.service(name, { ...env, NODE_OPTIONS: `--require ${join(__dirname, '..', 'dist', 'profile-preload.js')}`, BENCH_PROFILE_FILE: file });
  let busyPercent: number;
  let authBusyPercent: number;
  try {
    process.kill(service.pid, 'SIGUSR2');
    const cpu0 = cpuSeconds(service.pid);
    const auth0 = cpuSeconds(stack.auth.pid);
    const t0 = nowMs();
    await load(service);
    const wallS = (nowMs() - t0) / 1000;
    busyPercent = round((100 * (cpuSeconds(service.pid) - cpu0)) / wallS, 1);
    authBusyPercent = round((100 * (cpuSeconds(stack.auth.pid) - auth0)) / wallS, 1);
    process.kill(service.pid, 'SIGUSR2');
    for (let i = 0; i < 100 && !existsSync(file); i++) await sleep(100);
  } finally {
    await stack.stopService(service);
  }
  if (!existsSync(file)) throw new Error(`profile of ${name}: no profile written to ${file}`);
  const shares = attribute(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  rmSync(file, { force: true });
  return { service: name, busyPercent, authBusyPercent, shares };
}
