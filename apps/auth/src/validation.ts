/**
 * Request field rules. Each check returns the violation (proto field name + what is wrong) or
 * undefined; handlers collect them and throw one INVALID_ARGUMENT naming every bad field, so a
 * client fixes all of them in one round trip. Lengths count Unicode code points, not UTF-16
 * units, so "8 characters" means what a user would count.
 */
import { invalidArgument, type FieldViolation } from '@grpc-patterns/grpc-kit';

/** 3-32 characters of [a-z0-9_.-] (the User.username comment in auth.proto). */
export const USERNAME_PATTERN = /^[a-z0-9_.-]{3,32}$/;
export const PASSWORD_MIN_CHARS = 8;
/** The upper bound keeps a request from making the server hash megabytes. */
export const PASSWORD_MAX_CHARS = 1024;
export const DISPLAY_NAME_MAX_CHARS = 64;
/** A UUID in its canonical 8-4-4-4-12 hex form (RFC 9562), any case. */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Check = FieldViolation | undefined;

const chars = (value: string) => [...value].length;
const violation = (field: string, description: string): FieldViolation => ({ field, description });

/** `username`: not empty, and {@link USERNAME_PATTERN}. */
export function checkUsername(username: string): Check {
  if (username === '') return violation('username', 'must not be empty');
  if (!USERNAME_PATTERN.test(username)) return violation('username', 'must be 3-32 characters of a-z, 0-9, "_", "." and "-"');
  return undefined;
}

/**
 * `password` for Register: {@link PASSWORD_MIN_CHARS}..{@link PASSWORD_MAX_CHARS} characters.
 * For Login only emptiness and the upper bound are checked, so raising the minimum later does
 * not lock out users with older, shorter passwords.
 */
export function checkPassword(password: string, rule: 'new' | 'existing'): Check {
  if (password === '') return violation('password', 'must not be empty');
  const length = chars(password);
  if (rule === 'new' && length < PASSWORD_MIN_CHARS) return violation('password', `must be at least ${PASSWORD_MIN_CHARS} characters`);
  if (length > PASSWORD_MAX_CHARS) return violation('password', `must be at most ${PASSWORD_MAX_CHARS} characters`);
  return undefined;
}

/** `display_name`: optional, at most {@link DISPLAY_NAME_MAX_CHARS} characters, no control characters. */
export function checkDisplayName(displayName: string): Check {
  if (chars(displayName) > DISPLAY_NAME_MAX_CHARS) return violation('display_name', `must be at most ${DISPLAY_NAME_MAX_CHARS} characters`);
  // Other services show it to other users (chat): a newline or escape code there is a spoof.
  if (/\p{Cc}/u.test(displayName)) return violation('display_name', 'must not contain control characters');
  return undefined;
}

/** `field` (a user id): not empty, and a UUID. */
export function checkUserId(field: string, id: string): Check {
  if (id === '') return violation(field, 'must not be empty');
  if (!UUID_PATTERN.test(id)) return violation(field, 'must be a UUID');
  return undefined;
}

/** `field`: not empty. */
export function checkNotEmpty(field: string, value: string): Check {
  return value === '' ? violation(field, 'must not be empty') : undefined;
}

/**
 * Throws INVALID_ARGUMENT listing every violation ("username: must not be empty; password: must
 * not be empty"), or returns when there is none.
 */
export function throwIfInvalid(...checks: Check[]): void {
  const violations = checks.filter((c): c is FieldViolation => c !== undefined);
  if (violations.length > 0) throw invalidArgument(violations);
}
