/**
 * The flights parquet file (vega-datasets `flights-3m.parquet`: 3,000,000 rows in 11 row
 * groups, ZSTD; columns date TIMESTAMP(MICROS, local wall time), delay INT64, distance INT64,
 * origin UTF8, destination UTF8), read with hyparquet ONE ROW GROUP AT A TIME.
 *
 * Why row groups: a row group is parquet's unit of compression and of statistics, so it is the
 * smallest thing that can be decoded on its own, and the natural place to check for
 * cancellation and to apply backpressure. Decoding the whole file up front would hold 3M rows
 * (~1 GB of JS objects) for a caller that may only want the first chunk.
 *
 * Row groups whose column statistics (min/max per column) prove that no row can match are not
 * read at all: hyparquet's `parquetScan` `pruningFilter` does the proof, the same min/max
 * pruning Spark and DuckDB apply to parquet.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetScan, parquetSchema, type AsyncBuffer, type FileMetaData, type ParquetQueryFilter } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { FlightFilter } from './query.js';

/** Column names of the data set. */
export type FlightColumn = 'date' | 'delay' | 'distance' | 'origin' | 'destination';

/**
 * Decoded columns of one row group, index i = row `rowStart + i` of the file. `date` holds
 * local wall-clock times as UTC Dates (the column is not UTC-adjusted); delay and distance are
 * INT64, decoded as bigint.
 */
export interface FlightColumns {
  date: Date[];
  delay: bigint[];
  distance: bigint[];
  origin: string[];
  destination: string[];
}

/** One decoded row group. */
export interface RowGroupBatch {
  /** Absolute index of the first row (0-based, inclusive). */
  rowStart: number;
  /** Absolute index after the last row (exclusive). */
  rowEnd: number;
  /** Only the columns asked for are filled. */
  columns: Partial<FlightColumns>;
}

/** Work counters, shared by every scan of a service (tests and logs read them). */
export interface ScanCounters {
  /** Row groups read from disk and decoded. */
  rowGroupsDecoded: number;
  /** Row groups skipped because their statistics prove no row can match. */
  rowGroupsSkipped: number;
}

/** Options of {@link FlightsDataset.scan}. */
export interface ScanOptions {
  filter: FlightFilter;
  columns: FlightColumn[];
  /** Checked before each row group is read: once aborted, nothing more is decoded. */
  signal: AbortSignal;
  counters: ScanCounters;
  /** Skip row groups by statistics (default true; false to measure what it saves). */
  prune?: boolean;
}

const EXPECTED_COLUMNS: FlightColumn[] = ['date', 'delay', 'distance', 'origin', 'destination'];

/** The opened parquet file: its metadata is read once, row groups on demand. */
export class FlightsDataset {
  private constructor(
    private readonly file: AsyncBuffer,
    private readonly metadata: FileMetaData,
  ) {}

  /**
   * Opens the file and reads its footer (metadata, a few KB).
   *
   * @throws Error naming the path when it cannot be read, is not parquet, or lacks a column.
   */
  static async open(path: string): Promise<FlightsDataset> {
    let file: AsyncBuffer;
    let metadata: FileMetaData;
    try {
      file = await asyncBufferFromFile(path);
      metadata = await parquetMetadataAsync(file);
    } catch (error) {
      throw new Error(`cannot read FLIGHTS_PARQUET ${path}: ${(error as Error).message}`);
    }
    const names = parquetSchema(metadata).children.map((child) => child.element.name);
    const missing = EXPECTED_COLUMNS.filter((column) => !names.includes(column));
    if (missing.length > 0) throw new Error(`FLIGHTS_PARQUET ${path} lacks column(s) ${missing.join(', ')}`);
    return new FlightsDataset(file, metadata);
  }

  /** Rows in the file. */
  get rowsTotal(): number {
    return Number(this.metadata.num_rows);
  }

  /** Row groups in the file. */
  get rowGroupCount(): number {
    return this.metadata.row_groups.length;
  }

  /**
   * Yields the row groups that may hold matching rows, in file order, decoding the next one
   * only when the consumer asks for it (so a consumer waiting on backpressure holds at most
   * one decoded row group). Rows are NOT filtered here: statistics only prove absence.
   *
   * @throws the signal's reason (a CANCELLED GrpcError from callSignal) once it is aborted.
   */
  async *scan(options: ScanOptions): AsyncGenerator<RowGroupBatch> {
    const { signal, counters } = options;
    signal.throwIfAborted();
    const scan = await parquetScan({
      file: this.file,
      metadata: this.metadata,
      compressors,
      columns: options.columns,
      pruningFilter: options.prune === false ? undefined : pruningFilter(options.filter),
    });
    counters.rowGroupsSkipped += this.rowGroupCount - scan.ranges.length;
    for (const range of scan.ranges) {
      signal.throwIfAborted();
      counters.rowGroupsDecoded++;
      const decoded = await Promise.all(options.columns.map((column) => scan.readColumn({ column, rowStart: range.rowStart, rowEnd: range.rowEnd })));
      signal.throwIfAborted();
      const columns: Partial<FlightColumns> = {};
      options.columns.forEach((column, i) => {
        (columns as Record<string, unknown>)[column] = decoded[i];
      });
      yield { rowStart: range.rowStart, rowEnd: range.rowEnd, columns };
    }
  }
}

/**
 * The filter as a hyparquet query filter, used ONLY to prune row groups by statistics. The
 * date bounds are Dates because hyparquet converts the TIMESTAMP statistics to Dates; delay
 * statistics are bigint.
 */
export function pruningFilter(filter: FlightFilter): ParquetQueryFilter | undefined {
  const result: Record<string, Record<string, unknown>> = {};
  if (filter.fromMs !== undefined) result.date = { ...result.date, $gte: new Date(filter.fromMs) };
  if (filter.toMs !== undefined) result.date = { ...result.date, $lt: new Date(filter.toMs) };
  if (filter.origin !== undefined) result.origin = { $eq: filter.origin };
  if (filter.destination !== undefined) result.destination = { $eq: filter.destination };
  if (filter.minDelayMinutes !== undefined) result.delay = { $gte: BigInt(filter.minDelayMinutes) };
  return Object.keys(result).length > 0 ? (result as ParquetQueryFilter) : undefined;
}
