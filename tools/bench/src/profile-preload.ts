/**
 * Preloaded into a service (`NODE_OPTIONS=--require <this file>`, set by the bench only for its
 * profiling run) to answer "where does a call's CPU time go": SIGUSR2 starts V8's sampling
 * profiler (node:inspector, the same data as `--cpu-prof`, which NODE_OPTIONS does not allow),
 * the next SIGUSR2 stops it and writes the profile (Chrome .cpuprofile JSON) to
 * `BENCH_PROFILE_FILE`. SIGUSR1 is left alone: Node uses it to open the inspector.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.BENCH_PROFILE_FILE;
if (file) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 250 }, () => session.post('Profiler.start')));
      return;
    }
    running = false;
    session.post('Profiler.stop', (error, result) => {
      writeFileSync(file, error ? JSON.stringify({ error: error.message }) : JSON.stringify(result.profile));
    });
  });
}
