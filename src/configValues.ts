/**
 * Parsers of single configuration values (config.ts): each says which flag is wrong and what it
 * must be, as a ConfigError, so tokensmith refuses to start with a message a person can act on.
 */
import { parseDuration } from './core/duration.ts';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function positiveNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ConfigError(`--${flag} must be a positive number, got "${value}"`);
  return n;
}

export function positiveInteger(flag: string, value: string | undefined, fallback: number): number {
  const n = positiveNumber(flag, value, fallback);
  if (!Number.isInteger(n)) throw new ConfigError(`--${flag} must be a whole number, got "${value ?? ''}"`);
  return n;
}

export function jitter(value: string | undefined): number {
  if (value === undefined) return 30_000;
  try {
    return parseDuration(value);
  } catch (err) {
    throw new ConfigError(`--schedule-jitter: ${(err as Error).message}`);
  }
}

export function durationAtLeast(
  flag: string,
  value: string | undefined,
  fallback: string,
  minimum: string,
): number {
  let ms: number;
  try {
    ms = parseDuration(value ?? fallback);
  } catch (err) {
    throw new ConfigError(`--${flag}: ${(err as Error).message}`);
  }
  if (ms < parseDuration(minimum))
    throw new ConfigError(`--${flag} must be at least ${minimum}, got "${value ?? ''}"`);
  return ms;
}

export function required(what: string, value: string | undefined, how: string): string {
  if (!value) throw new ConfigError(`${what} is required: ${how}`);
  return value;
}
