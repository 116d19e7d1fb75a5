/** Tour step 3. metrics, client streaming (what it checks: tour.ts). */
import * as grpc from '@grpc/grpc-js';
import { metricsV1 } from '@grpc-patterns/proto';
import { Clients } from './clients.js';
import { clientStream } from './streams.js';
import { uploadPoints } from './commands/upload-metrics.js';
import { num } from './format.js';
import { type StepTools, type TourState, TOUR_FLIGHTS, MISSING_TOKEN_MESSAGE } from './tour-step.js';

/** The exact q-quantile bracket of sorted values: [value just below rank, value just above]. */
function quantileBracket(sorted: number[], q: number): [number, number] {
  const rank = q * (sorted.length - 1);
  return [sorted[Math.max(0, Math.floor(rank) - 1)], sorted[Math.min(sorted.length - 1, Math.ceil(rank) + 1)]];
}

export async function metricsStep(clients: Clients, t: StepTools, state: TourState): Promise<string> {
  const points = state.points;
  t.check(points.length > 0, 'a real series to upload: the delays streamed in step 2', 'step 2 streamed no flights');
  // Stamped when received: metrics rejects points older than MAX_POINT_AGE_MS, and the flights are from 2001.
  t.log(`UploadMetrics: ${points.length} points of ${points[0].name}{origin="${TOUR_FLIGHTS.origin}"} (value = delay, time = when received), one message each`);
  const upload = await uploadPoints(clients, points);
  const res = upload.response;
  t.log(`received ${res.receivedCount}, accepted ${res.acceptedCount}, rejected ${res.rejectedCount} in ${upload.ms} ms`);
  for (const r of res.rejected.slice(0, 3)) t.log(`rejected #${r.index}: ${r.field}: ${r.reason}`);
  t.check(Number(res.receivedCount) === upload.sent && upload.sent === points.length, `received_count = points sent (${upload.sent})`, `received ${res.receivedCount}`);
  t.check(Number(res.acceptedCount) === points.length && Number(res.rejectedCount) === 0, 'every point accepted', `accepted ${res.acceptedCount}, rejected ${res.rejectedCount}`);
  t.check(res.series.length === 1, 'one series in the summary', `got ${res.series.length}`);
  const s = res.series[0];
  t.log(`count ${s.count} min ${num(s.min)} p50 ${num(s.p50)} p95 ${num(s.p95)} p99 ${num(s.p99)} max ${num(s.max)} mean ${num(s.mean)}`);
  t.check(Number(s.count) === points.length, `summary count = points sent (${points.length})`, `count ${s.count}`);
  t.check(s.min <= s.p50 && s.p50 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.max, 'min <= p50 <= p95 <= p99 <= max');
  t.check(s.min === upload.min && s.max === upload.max, `min and max are exact (${upload.min}, ${upload.max})`, `summary ${s.min}, ${s.max}`);
  const values = points.map((p) => p.value).sort((a, b) => a - b);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  t.check(Math.abs(s.mean - mean) <= 1e-9 * Math.max(1, Math.abs(mean)), `mean is exact (${num(mean)})`, `summary ${s.mean}`);
  // DDSketch promises 1% relative accuracy around the true quantile (proto/metrics/v1/metrics.proto).
  const [low, high] = quantileBracket(values, 0.5);
  t.check(s.p50 >= low * 0.99 && s.p50 <= high * 1.01, `p50 within 1% of the exact median (${low}..${high})`, `p50 ${s.p50}`);
  const anonymous = state.anonymous.metrics;
  const { call, response } = clientStream<metricsV1.UploadMetricsRequest, metricsV1.UploadMetricsResponse>((cb) => anonymous.uploadMetrics({ deadline: clients.streamDeadline() }, cb));
  call.end();
  await t.expectCode(response, grpc.status.UNAUTHENTICATED, 'UploadMetrics without a token', MISSING_TOKEN_MESSAGE);
  return `${points.length} real points accepted; count, min, max, mean exact; p50 ${num(s.p50)} p99 ${num(s.p99)}; no token UNAUTHENTICATED`;
}
