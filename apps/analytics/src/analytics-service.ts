/**
 * The analytics.v1.AnalyticsService implementation: server streaming over the vega-datasets
 * US flights (3,000,000 rows), built from its dependencies so tests build it exactly as
 * main.ts does.
 *
 * The pattern, per call: validate -> take a scan slot (per user, then global) -> read one row group -> filter ->
 * write chunks with writeMessage() (waits for 'drain': backpressure) -> check the call's
 * AbortSignal -> next row group. A client that stops reading stalls the scan, not the
 * server's memory; a client that cancels (or whose deadline passes) stops it before the next
 * row group is decoded.
 */
import { Metadata, status, type ServerWritableStream } from '@grpc/grpc-js';
import { GrpcError, serverStreaming, type ServiceRegistration } from '@grpc-patterns/grpc-kit';
import { currentCallContext, RETRY_PUSHBACK_KEY } from '@grpc-patterns/interceptors';
import type { Logger } from '@grpc-patterns/observability';
import { analyticsV1 } from '@grpc-patterns/proto';
import { loadAirports } from './airports.js';
import { streamDelayStats } from './delay-stats.js';
import { FlightsDataset } from './flights-dataset.js';
import { parseDelayStatsRequest, parseFlightsRequest } from './query.js';
import { newCounters, type AnalyticsCounters, type ScanContext, type ScanSummary } from './scan-context.js';
import { streamFlights } from './stream-flights.js';

/** Options of {@link createAnalyticsService}. */
export interface AnalyticsServiceOptions {
  /** Path of the flights parquet file. */
  flightsParquet: string;
  /** Path of airports.csv. */
  airportsCsv: string;
  logger: Logger;
  /** Scans allowed at once; one more gets RESOURCE_EXHAUSTED. Default 4. */
  maxConcurrentScans?: number;
  /** Scans one user may hold at once (at most maxConcurrentScans counts); one more gets RESOURCE_EXHAUSTED. Default 2. */
  maxScansPerUser?: number;
  /** Longest wait for a client to read, ms; then the stream ends with RESOURCE_EXHAUSTED. Default 30 000. */
  streamStallTimeoutMs?: number;
  /**
   * Who owns a scan: default the authenticated caller's id (the access token's `sub`, put in
   * the call context by the auth interceptor). undefined: only the global limit applies.
   */
  scanOwner?: (call: ServerWritableStream<unknown, unknown>) => string | undefined;
  /** Skip row groups by column statistics (default true; false only to measure the gain). */
  pruneRowGroups?: boolean;
}

/** A built service: register it with startServer(), close it after the server stopped. */
export interface AnalyticsService {
  registration: ServiceRegistration;
  /** Work and flow-control counters over all calls (tests assert on them). */
  counters: AnalyticsCounters;
  dataset: FlightsDataset;
  close(): Promise<void>;
}

/** RetryInfo.retry_delay (and `grpc-retry-pushback-ms`) of a refused scan, ms. */
export const SCAN_RETRY_DELAY_MS = 1_000;

/** RESOURCE_EXHAUSTED for a scan over a slot limit, saying which (ErrorInfo reason SCAN_LIMIT_PER_USER or SCAN_LIMIT_GLOBAL), with RetryInfo. */
function scanLimitError(scope: 'user' | 'server', limit: number): GrpcError {
  const message = scope === 'user' ? `too many concurrent scans for this user (limit ${limit} per user); retry later` : `too many concurrent scans (limit ${limit}); retry later`;
  const trailers = new Metadata();
  trailers.set(RETRY_PUSHBACK_KEY, String(SCAN_RETRY_DELAY_MS));
  return new GrpcError(status.RESOURCE_EXHAUSTED, message, trailers, [], [
    { type: 'RetryInfo', retryDelayMs: SCAN_RETRY_DELAY_MS },
    { type: 'ErrorInfo', reason: scope === 'user' ? 'SCAN_LIMIT_PER_USER' : 'SCAN_LIMIT_GLOBAL', domain: 'analytics.grpc-patterns', metadata: { limit: String(limit), scope } },
  ]);
}

/**
 * Opens the data files and builds the service. Call errors: INVALID_ARGUMENT, RESOURCE_EXHAUSTED (scan
 * slots, stalled client), CANCELLED / DEADLINE_EXCEEDED, INTERNAL; when: README "Explanation: Status codes".
 * @throws Error naming the file when the parquet file or airports.csv cannot be read.
 */
export async function createAnalyticsService(options: AnalyticsServiceOptions): Promise<AnalyticsService> {
  const [dataset, airports] = await Promise.all([FlightsDataset.open(options.flightsParquet), loadAirports(options.airportsCsv)]);
  const counters = newCounters();
  const context: ScanContext = { dataset, airports, counters, prune: options.pruneRowGroups ?? true, stallTimeoutMs: options.streamStallTimeoutMs ?? 30_000 };
  const maxScans = options.maxConcurrentScans ?? 4;
  const maxPerUser = options.maxScansPerUser ?? 2;
  const scanOwner = options.scanOwner ?? (() => currentCallContext()?.user?.id);
  /** Scans held per owner; an owner is removed at 0, so the map holds only users scanning now. */
  const scansByOwner = new Map<string, number>();
  const { logger } = options;

  /** Runs one scan in a slot, and logs what it did however it ended. */
  async function inSlot(method: string, call: ServerWritableStream<unknown, unknown>, signal: AbortSignal, scan: (summary: ScanSummary) => Promise<void>): Promise<void> {
    const owner = scanOwner(call);
    const held = owner === undefined ? 0 : (scansByOwner.get(owner) ?? 0);
    // The caller's own limit first: a user at their limit is told so even when the server is full too.
    if (owner !== undefined && held >= maxPerUser) throw scanLimitError('user', maxPerUser);
    if (counters.scansActive >= maxScans) throw scanLimitError('server', maxScans);
    counters.scansActive++;
    if (owner !== undefined) scansByOwner.set(owner, held + 1);
    const started = performance.now();
    const decodedBefore = counters.rowGroupsDecoded;
    let outcome = 'ok';
    const summary: ScanSummary = { rowsScanned: 0, items: 0, messages: 0 };
    try {
      await scan(summary);
    } catch (error) {
      outcome = signal.aborted ? 'cancelled' : error instanceof GrpcError ? status[error.code] : 'error';
      throw error;
    } finally {
      counters.scansActive--;
      if (owner !== undefined) {
        const left = (scansByOwner.get(owner) ?? 1) - 1;
        if (left > 0) scansByOwner.set(owner, left);
        else scansByOwner.delete(owner);
      }
      logger.info(
        { method, outcome, user: owner, ...summary, rowGroupsDecoded: counters.rowGroupsDecoded - decodedBefore, durationMs: Math.round(performance.now() - started) },
        'scan finished',
      );
    }
  }

  const implementation: analyticsV1.AnalyticsServiceServer = {
    // Validation first: a malformed request is INVALID_ARGUMENT even when every slot is taken.
    streamFlights: serverStreaming(async (call, signal) => {
      const query = parseFlightsRequest(call.request);
      await inSlot('StreamFlights', call as ServerWritableStream<unknown, unknown>, signal, (summary) => streamFlights(call, query, signal, context, summary));
    }),
    streamDelayStats: serverStreaming(async (call, signal) => {
      const query = parseDelayStatsRequest(call.request);
      await inSlot('StreamDelayStats', call as ServerWritableStream<unknown, unknown>, signal, (summary) => streamDelayStats(call, query, signal, context, summary));
    }),
  };

  logger.info({ rows: dataset.rowsTotal, rowGroups: dataset.rowGroupCount, airports: airports.size }, 'flights data opened');
  return {
    registration: { name: 'analytics.v1.AnalyticsService', definition: analyticsV1.AnalyticsServiceService, implementation },
    counters,
    dataset,
    // Nothing to release: hyparquet opens a read stream per byte range and closes it after.
    close: async () => undefined,
  };
}
