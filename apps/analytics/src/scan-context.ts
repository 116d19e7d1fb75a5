/** What both streaming handlers need: the data, the airport names and the shared counters. */
import type { AirportDirectory } from './airports.js';
import type { FlightsDataset, ScanCounters } from './flights-dataset.js';
import type { WriteCounters } from './flow-control.js';

/** Counters of a service instance (see each field's interface). */
export interface AnalyticsCounters extends ScanCounters, WriteCounters {
  /** Scans running now. */
  scansActive: number;
  /** Streams ended because their client did not read for the stall timeout. */
  stalledStreams: number;
}

/** A fresh set of counters, all zero. */
export function newCounters(): AnalyticsCounters {
  return { rowGroupsDecoded: 0, rowGroupsSkipped: 0, messagesWritten: 0, drainWaits: 0, maxPendingWrites: 0, scansActive: 0, stalledStreams: 0 };
}

/** Dependencies of a scan. */
export interface ScanContext {
  dataset: FlightsDataset;
  airports: AirportDirectory;
  counters: AnalyticsCounters;
  /** Prune row groups by statistics (default on). */
  prune: boolean;
  /** Longest wait for the client to read, ms (undefined: no limit). */
  stallTimeoutMs?: number;
}

/** What a finished (or stopped) scan did, for the call's log line. */
export interface ScanSummary {
  rowsScanned: number;
  /** Flights sent (StreamFlights) or aggregates sent (StreamDelayStats). */
  items: number;
  messages: number;
}
