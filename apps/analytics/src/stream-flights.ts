/**
 * StreamFlights: matching rows, `chunk_size` per message, in file order.
 *
 * rows_scanned of a message is the absolute position just after the last row the scan had
 * looked at when the message was built (the last flight of a full chunk is row
 * rows_scanned - 1; rows in row groups skipped by statistics count as passed). The final
 * message of a scan that ran to the end carries rows_scanned = rows_total. With
 * progress_interval_ms, a message with no flights carries the position reached when no message
 * went out for that long (still increasing: later chunks end at rows found later).
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { analyticsV1 } from '@grpc-patterns/proto';
import { send } from './flow-control.js';
import { matchesFilter, type FlightsQuery } from './query.js';
import type { ScanContext, ScanSummary } from './scan-context.js';

type Call = ServerWritableStream<analyticsV1.StreamFlightsRequest, analyticsV1.StreamFlightsResponse>;

/**
 * Scans for a validated query ({@link parseFlightsRequest}) and writes chunks with backpressure;
 * `summary` is kept up to date so a stopped scan can still be logged.
 * @throws GrpcError CANCELLED when the call ends (client cancel, deadline, shutdown) mid-scan.
 */
export async function streamFlights(call: Call, query: FlightsQuery, signal: AbortSignal, context: ScanContext, summary: ScanSummary): Promise<void> {
  const { filter, chunkSize, limit, progressIntervalMs } = query;
  const { dataset, airports, counters } = context;
  const rowsTotal = String(dataset.rowsTotal);
  let chunk: analyticsV1.Flight[] = [];
  let lastSentAt = performance.now();

  const write = async (flights: analyticsV1.Flight[], rowsScanned: number) => {
    summary.rowsScanned = rowsScanned;
    summary.messages++;
    await send(call, { flights, rowsScanned: String(rowsScanned), rowsTotal }, counters, context.stallTimeoutMs);
    lastSentAt = performance.now();
    signal.throwIfAborted();
  };
  const flush = async (rowsScanned: number) => {
    const flights = chunk;
    chunk = [];
    await write(flights, rowsScanned);
  };

  const scan = dataset.scan({ filter, columns: ['date', 'delay', 'distance', 'origin', 'destination'], signal, counters, prune: context.prune });
  for await (const { rowStart, rowEnd, columns } of scan) {
    const { date, delay, distance, origin, destination } = columns as Required<typeof columns>;
    for (let i = 0; i < rowEnd - rowStart; i++) {
      const delayMinutes = Number(delay[i]);
      if (!matchesFilter(filter, date[i].getTime(), origin[i], destination[i], delayMinutes)) continue;
      const from = airports.get(origin[i]);
      const to = airports.get(destination[i]);
      chunk.push({
        // Local wall time stored as if UTC: the ISO string without its "Z" is the local time.
        departureTime: date[i].toISOString().slice(0, 19),
        delayMinutes,
        distanceMiles: Number(distance[i]),
        origin: origin[i],
        destination: destination[i],
        originName: from?.name ?? '',
        destinationName: to?.name ?? '',
        originCity: from?.city ?? '',
        destinationCity: to?.city ?? '',
      });
      summary.items++;
      if (summary.items === limit) {
        await flush(rowStart + i + 1);
        return;
      }
      if (chunk.length === chunkSize) await flush(rowStart + i + 1);
    }
    const due = progressIntervalMs > 0 && performance.now() - lastSentAt >= progressIntervalMs;
    if (due && rowEnd < dataset.rowsTotal) await write([], rowEnd); // the final message follows anyway
  }
  // The rest, or one empty message so a query matching nothing still reports its progress.
  if (chunk.length > 0 || summary.messages === 0) await flush(dataset.rowsTotal);
  summary.rowsScanned = dataset.rowsTotal;
}
