/** Builders for pure-logic tests: `record(version(1, active()), version(2, pending()))`. */
import type { PolicyTokenRecord, TokenVersionRecord } from '../../src/core/records.ts';

export const T0 = new Date('2026-06-01T12:00:00Z');
export const HOUR = 3_600_000;
export const at = (offsetMs: number) => new Date(T0.getTime() + offsetMs);

type VersionOption = (v: TokenVersionRecord) => TokenVersionRecord;

export function version(n: number, ...options: VersionOption[]): TokenVersionRecord {
  const base: TokenVersionRecord = {
    version: n,
    state: 'active',
    type: 'opaque',
    token: `token-${n}`,
    tokenHash: `hash-${n}`,
    fingerprint: `sha256:hash-${n}`,
    scopes: [],
    specHash: 'spec-a',
    issuedAt: T0.toISOString(),
    expiresAt: at(24 * HOUR).toISOString(),
  };
  return options.reduce((v, option) => option(v), base);
}

export const active = (): VersionOption => (v) => ({ ...v, state: 'active' });
export const pending = (): VersionOption => (v) => ({ ...v, state: 'pending' });
export const retiring =
  (sinceMs: number): VersionOption =>
  (v) => ({
    ...v,
    state: 'retiring',
    retiringSince: at(sinceMs).toISOString(),
  });
export const revoked = (): VersionOption => (v) => ({ ...v, state: 'revoked', revokedAt: T0.toISOString() });
export const expiresIn =
  (ms: number): VersionOption =>
  (v) => ({ ...v, expiresAt: at(ms).toISOString() });
export const withSpec =
  (specHash: string): VersionOption =>
  (v) => ({ ...v, specHash });

export function record(current: number, ...versions: TokenVersionRecord[]): PolicyTokenRecord {
  return {
    policy: { namespace: 'team', name: 'orders', uid: 'uid-1' },
    issuer: { kind: 'ClusterTokenIssuer', name: 'payments' },
    currentVersion: current,
    lastVersion: Math.max(0, ...versions.map((v) => v.version)),
    versions,
  };
}
