/**
 * Airport names for the IATA codes in the flights data, from vega-datasets `airports.csv`
 * (columns iata,name,city,state,country,latitude,longitude; some names are quoted and
 * contain commas, so a real CSV parser reads it).
 */
import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';

/** One airport as the responses show it. */
export interface Airport {
  name: string;
  city: string;
}

/** IATA code ("SFO") → airport. */
export type AirportDirectory = ReadonlyMap<string, Airport>;

/**
 * Reads airports.csv into a map by IATA code.
 *
 * @throws Error naming the file when it cannot be read or has no `iata` column.
 */
export async function loadAirports(csvPath: string): Promise<AirportDirectory> {
  let text: string;
  try {
    text = await readFile(csvPath, 'utf8');
  } catch (error) {
    throw new Error(`cannot read AIRPORTS_CSV ${csvPath}: ${(error as Error).message}`);
  }
  const records = parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Array<Record<string, string>>;
  if (records.length > 0 && !('iata' in records[0])) throw new Error(`AIRPORTS_CSV ${csvPath} has no "iata" column`);
  const airports = new Map<string, Airport>();
  for (const record of records) airports.set(record.iata, { name: record.name ?? '', city: record.city ?? '' });
  return airports;
}
