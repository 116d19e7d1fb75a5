// Red team, issue 17 (log amplification): an RST_STREAM flood (HEADERS then RST_STREAM, a few
// bytes per stream) against the built metrics service. On a server-streaming method, grpc-js
// ends each reset stream with UNIMPLEMENTED "Received no request message", which the logging
// interceptor logs at error: one line per stream until the sampler. Now at most
// ERROR_LINES_PER_SECOND lines per method and code per second are written; a
// "finished call lines suppressed" line counts the rest, and together they add up to
// grpc_server_handled_total for that method and code.
import { closeAllChannels } from '@grpc-patterns/grpc-kit';
import { appMain, describeRequiring, freePort, jsonLogLines, spawnService, type ServiceProcess } from '@grpc-patterns/testing';
import * as http2 from 'node:http2';
import { existsSync } from 'node:fs';
import { connect } from './raw-h2.js';

const WATCH = '/grpc.health.v1.Health/Watch';
const STREAMS = 5_000;
/** ERROR_LINES_PER_SECOND of libs/interceptors logging.ts. */
const LINES_PER_SECOND = 10;

/** Sum of grpc_server_handled_total for the health Watch method and `code`, from /metrics. */
async function handled(url: string, code: string): Promise<number> {
  const text = await (await fetch(url)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('grpc_server_handled_total{') && line.includes('grpc_method="Watch"') && line.includes(`grpc_code="${code}"`)) sum += Number(line.split(' ').pop());
  }
  return sum;
}

const missing = existsSync(appMain('metrics')) ? undefined : 'apps/metrics is not built (npx nx run-many -t build)';

describeRequiring('red team: RST_STREAM flood and the log (issue 17, log amplification)', missing, () => {
  let service: ServiceProcess;
  let metricsUrl: string;
  beforeAll(async () => {
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    service = await spawnService({ name: 'metrics', env: { METRICS_PORT: String(metricsPort) } });
  }, 180_000);
  afterAll(async () => {
    closeAllChannels();
    await service?.stop();
  });

  it(`${STREAMS} streams opened and reset: the error lines are bounded per second, the rest counted`, async () => {
    const session = await connect(service.port);
    const started = Date.now();
    let opened = 0;
    try {
      for (let i = 0; i < STREAMS && !session.destroyed && !session.closed; i++) {
        try {
          const s = session.request({ ':method': 'POST', ':path': WATCH, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
          s.on('error', () => undefined);
          s.close(http2.constants.NGHTTP2_CANCEL);
          opened++;
        } catch {
          break; // GOAWAY: the flood is over for this connection
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      session.destroy();
    }
    // A loaded server works through the reset streams for seconds; the summary of a window comes
    // at its end. Wait until every ended call is accounted for (or 60 s).
    const count = async () => {
      const lines = jsonLogLines(service.output()).filter((l) => l['grpc.method'] === WATCH && l['grpc.code'] === 'UNIMPLEMENTED');
      return {
        calls: await handled(metricsUrl, 'UNIMPLEMENTED'),
        written: lines.filter((l) => l.msg === 'finished call').length,
        suppressed: lines.filter((l) => l.msg === 'finished call lines suppressed').reduce((sum, l) => sum + Number(l.suppressed), 0),
      };
    };
    let now = await count();
    for (let settled = 0, deadline = Date.now() + 60_000; settled < 3 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const next = await count();
      settled = next.calls === now.calls && next.written + next.suppressed === next.calls ? settled + 1 : 0;
      now = next;
    }
    const seconds = Math.ceil((Date.now() - started) / 1_000) + 1;
    const { calls, written, suppressed } = now;
    console.log(`RST flood: ${opened} streams opened, ${calls} ended UNIMPLEMENTED (grpc_server_handled_total), ${written} lines written, ${suppressed} suppressed, over ${seconds} s`);
    expect(opened).toBeGreaterThan(1_000);
    expect(calls).toBeGreaterThan(100); // the flood reached the interceptors (else the bound below proves nothing)
    expect(written).toBeLessThanOrEqual(LINES_PER_SECOND * seconds);
    expect(written + suppressed).toBe(calls);
  }, 120_000);
});
