import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { transformSync } from '@swc/core';
import { context, trace, TraceFlags } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { samplerFromEnv, setupTracing } from './tracing.js';

const execFileAsync = promisify(execFile);

describe('setupTracing', () => {
  // The OTLP exporter loads node:http with a dynamic import(), which jest's CommonJS VM refuses
  // (--experimental-vm-modules): the exporting side runs in a plain Node child process, with
  // this file's tracing.ts compiled by swc, as main.ts would run it.
  it('exports batched spans as OTLP/HTTP JSON to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces', async () => {
    const received: Array<{ method?: string; url?: string; contentType?: string; body: string }> = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push({ method: req.method, url: req.url, contentType: req.headers['content-type'], body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const port = (receiver.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'otlp-'));
    try {
      const compiled = transformSync(readFileSync(join(__dirname, 'tracing.ts'), 'utf8'), {
        filename: 'tracing.ts',
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'commonjs' },
      }).code;
      writeFileSync(join(dir, 'tracing.js'), compiled);
      const script = [
        "const { trace } = require('@opentelemetry/api');",
        "const { setupTracing } = require('./tracing.js');",
        "const tracing = setupTracing({ serviceName: 'otlp-test' });",
        "const tracer = trace.getTracer('spec');",
        "tracer.startSpan('first-span').end();",
        "tracer.startSpan('second-span').end();",
        "tracing.shutdown().then(() => console.log(tracing.export));",
      ].join('\n');
      writeFileSync(join(dir, 'main.js'), script);
      const { stdout } = await execFileAsync(process.execPath, [join(dir, 'main.js')], {
        env: { PATH: process.env.PATH, NODE_PATH: join(__dirname, '..', '..', '..', 'node_modules'), OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}/` },
      });
      expect(stdout.trim()).toBe('otlp');
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ method: 'POST', url: '/v1/traces', contentType: 'application/json' });
      const body = JSON.parse(received[0].body) as {
        resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
      };
      const names = body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans.map((sp) => sp.name)));
      expect(names.sort()).toEqual(['first-span', 'second-span']);
      expect(body.resourceSpans[0].resource.attributes).toContainEqual({ key: 'service.name', value: { stringValue: 'otlp-test' } });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await new Promise((r) => receiver.close(r));
    }
  });

  it('exports nothing without an endpoint, but still makes real trace ids', async () => {
    const tracing = setupTracing({ serviceName: 'quiet', env: {} });
    try {
      expect(tracing.export).toBe('none');
      const span = trace.getTracer('spec').startSpan('x');
      expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span.spanContext().traceId).not.toBe('0'.repeat(32));
      span.end();
    } finally {
      await tracing.shutdown();
    }
  });

  it('sends spans to a given exporter synchronously, with OTEL_SERVICE_NAME winning', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = setupTracing({ serviceName: 'default-name', exporter, env: { OTEL_SERVICE_NAME: 'from-env' } });
    try {
      trace.getTracer('spec').startSpan('y').end();
      const spans = exporter.getFinishedSpans();
      expect(spans.map((s) => s.name)).toEqual(['y']);
      expect(spans[0].resource.attributes['service.name']).toBe('from-env');
    } finally {
      await tracing.shutdown();
    }
  });
});

describe('samplerFromEnv / setupTracing sampling (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG)', () => {
  /** Starts 200 root spans and one child of a sampled and one of an unsampled remote parent; says which recorded. */
  async function sampled(env: NodeJS.ProcessEnv) {
    const exporter = new InMemorySpanExporter();
    const tracing = setupTracing({ serviceName: 'sampling', exporter, env });
    try {
      const tracer = trace.getTracer('spec');
      let roots = 0;
      for (let i = 0; i < 200; i++) {
        const span = tracer.startSpan('root');
        if (span.isRecording()) roots++;
        expect(span.spanContext().traceId).not.toBe('0'.repeat(32));
        span.end();
      }
      const child = (flags: TraceFlags) => {
        const parent = trace.setSpanContext(context.active(), { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: flags, isRemote: true });
        const span = tracer.startSpan('child', {}, parent);
        const recording = span.isRecording();
        span.end();
        return recording;
      };
      return { sampler: tracing.sampler, roots, sampledParent: child(TraceFlags.SAMPLED), unsampledParent: child(TraceFlags.NONE), exported: exporter.getFinishedSpans().length };
    } finally {
      await tracing.shutdown();
    }
  }

  it('defaults to parentbased_always_on: every root call is traced, a caller\'s decision is followed', async () => {
    expect(await sampled({})).toEqual({ sampler: 'parentbased_always_on', roots: 200, sampledParent: true, unsampledParent: false, exported: 201 });
  });

  it('always_off records nothing (trace ids still made), always_on ignores the parent', async () => {
    expect(await sampled({ OTEL_TRACES_SAMPLER: 'always_off' })).toEqual({ sampler: 'always_off', roots: 0, sampledParent: false, unsampledParent: false, exported: 0 });
    expect(await sampled({ OTEL_TRACES_SAMPLER: 'always_on' })).toEqual({ sampler: 'always_on', roots: 200, sampledParent: true, unsampledParent: true, exported: 202 });
  });

  it('parentbased_traceidratio samples that share of root calls and follows the parent', async () => {
    const result = await sampled({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' });
    expect(result).toMatchObject({ sampler: 'parentbased_traceidratio 0.25', sampledParent: true, unsampledParent: false });
    // Random trace ids: 200 draws at p = 0.25 fall in 20..80 with overwhelming probability.
    expect(result.roots).toBeGreaterThan(20);
    expect(result.roots).toBeLessThan(80);
    expect(await sampled({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' })).toMatchObject({ roots: 0, sampledParent: false });
  });

  it('falls back as the specification says: a ratio out of range is 1, an unknown sampler the default', () => {
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '7' }).name).toBe('traceidratio 1');
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio' }).name).toBe('traceidratio 1');
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'Always_Off' }).name).toBe('always_off');
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'sometimes' }).name).toBe('parentbased_always_on');
  });
});
