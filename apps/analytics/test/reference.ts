// The independent computation the tests compare the service against: the whole parquet file
// read with plain hyparquet parquetRead, row group by row group, with no statistics pruning
// and none of the service's code, into compact typed arrays (~60 MB).
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

/** Every row of the file, by absolute position. */
export interface Reference {
  rows: number;
  /** Local departure time as UTC ms. */
  time: Float64Array;
  delay: Int32Array;
  distance: Int32Array;
  origin: string[];
  destination: string[];
}

/** Reads the file; each row group's columns arrive via onChunk and are copied out. */
export async function loadReference(path: string): Promise<Reference> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const rows = Number(metadata.num_rows);
  const ref: Reference = { rows, time: new Float64Array(rows), delay: new Int32Array(rows), distance: new Int32Array(rows), origin: new Array(rows), destination: new Array(rows) };
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupEnd = groupStart + Number(group.num_rows);
    await parquetRead({
      file,
      metadata,
      compressors,
      rowStart: groupStart,
      rowEnd: groupEnd,
      onChunk: ({ columnName, columnData, rowStart }) => {
        const from = Math.max(groupStart, rowStart) - rowStart;
        const to = Math.min(groupEnd, rowStart + columnData.length) - rowStart;
        const values = columnData as unknown[];
        if (columnName === 'date') for (let i = from; i < to; i++) ref.time[rowStart + i] = (values[i] as Date).getTime();
        else if (columnName === 'delay') for (let i = from; i < to; i++) ref.delay[rowStart + i] = Number(values[i]);
        else if (columnName === 'distance') for (let i = from; i < to; i++) ref.distance[rowStart + i] = Number(values[i]);
        else if (columnName === 'origin') for (let i = from; i < to; i++) ref.origin[rowStart + i] = values[i] as string;
        else if (columnName === 'destination') for (let i = from; i < to; i++) ref.destination[rowStart + i] = values[i] as string;
      },
    });
    groupStart = groupEnd;
  }
  return ref;
}

/** Midnight UTC of "YYYY-MM-DD", ms (written out here rather than shared with the service). */
export function day(text: string): number {
  return new Date(`${text}T00:00:00Z`).getTime();
}

/** Positions of the rows for which `keep(i)` holds, in file order. */
export function positions(ref: Reference, keep: (i: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < ref.rows; i++) if (keep(i)) out.push(i);
  return out;
}

/** "2001-01-01T00:01:00" for a local time given as UTC ms. */
export function isoLocal(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}
