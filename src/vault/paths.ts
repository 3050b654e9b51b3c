/**
 * Vault API paths built from configured mounts, prefixes and Kubernetes names. Every segment is
 * percent-encoded and `.`/`..` are refused, so no configured value can reach a path it does not
 * name.
 */
import { TokensmithError } from '../errors.ts';

/**
 * Joins path parts (each may hold several `/`-separated segments; empty segments are dropped)
 * into one encoded Vault path without leading or trailing slash. Throws InvalidSpec for `.`/`..`.
 */
export function vaultPath(...parts: string[]): string {
  const segments = parts.flatMap((part) => part.split('/')).filter((s) => s !== '');
  for (const segment of segments) {
    if (segment === '.' || segment === '..') {
      throw new TokensmithError('InvalidSpec', 'a Vault mount or path may not contain "." or ".." segments');
    }
  }
  if (segments.length === 0) throw new TokensmithError('InvalidSpec', 'a Vault path may not be empty');
  return segments.map((s) => encodeURIComponent(s)).join('/');
}
