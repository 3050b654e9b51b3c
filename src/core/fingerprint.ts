import { createHash } from 'node:crypto';

/** Full sha256 hex of a token: the key of Vault's lookup index. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A short, safe-to-show fingerprint of a token: `sha256:` and 12 hex digits of its hash. */
export function fingerprintOfHash(hash: string): string {
  return `sha256:${hash.slice(0, 12)}`;
}

/** Stable sha256 hex of a JSON-serialisable value, with object keys sorted. */
export function stableHash(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex');
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
