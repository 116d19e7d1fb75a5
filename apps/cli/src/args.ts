/**
 * Option parsers for commander. They reject what is malformed before any call is made, with
 * the option named by commander (`error: option '--limit <n>' argument '-1' is invalid. must
 * be a whole number from 0 to 4294967295`). The services validate again: they are the
 * authority, these only save a round trip and give a better message for typos.
 */
import { InvalidArgumentError } from 'commander';

/** A whole number in [min, max] (proto uint32 fields use 0..4294967295). */
export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const trimmed = value.trim();
    if (!/^-?\d+$/.test(trimmed)) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    const n = Number(trimmed);
    if (n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Largest value of a proto uint32. */
export const UINT32_MAX = 4_294_967_295;

/** An IATA airport code, upper-cased ("sfo" → "SFO"): 3 letters or digits. */
export function airportCode(value: string): string {
  const code = value.trim().toUpperCase();
  if (!/^[A-Z0-9]{3}$/.test(code)) throw new InvalidArgumentError('must be a 3-character IATA airport code such as SFO');
  return code;
}

/** A calendar date "YYYY-MM-DD" that exists (2001-02-30 is rejected). */
export function isoDate(value: string): string {
  const date = value.trim();
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) throw new InvalidArgumentError('must be a date YYYY-MM-DD');
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (probe.getUTCFullYear() !== year || probe.getUTCMonth() !== month - 1 || probe.getUTCDate() !== day) {
    throw new InvalidArgumentError('must be a date YYYY-MM-DD that exists');
  }
  return date;
}

/** A month "YYYY-MM". */
export function isoMonth(value: string): string {
  const month = value.trim();
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 12) throw new InvalidArgumentError('must be a month YYYY-MM');
  return month;
}

/**
 * The date range `[from, to)` covering one month, as StreamFlights' `from_date` / `to_date`
 * want it: "2001-03" → { from: "2001-03-01", to: "2001-04-01" }.
 */
export function monthRange(month: string): { from: string; to: string } {
  const [year, m] = month.split('-').map(Number);
  const next = m === 12 ? `${year + 1}-01` : `${year}-${String(m + 1).padStart(2, '0')}`;
  return { from: `${month}-01`, to: `${next}-01` };
}

/** A non-empty string, trimmed. */
export function nonEmpty(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '') throw new InvalidArgumentError('must not be empty');
  return trimmed;
}

/** A duration in milliseconds, 1 ms .. 24 h. */
export const milliseconds = integer(1, 86_400_000);
