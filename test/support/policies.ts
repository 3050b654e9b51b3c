/**
 * A TokenPolicy builder for tests: `tokenPolicy('orders', onIssuer(issuer), jwt(['api']), overlap('15s'))`.
 * The default is an opaque token with a one-hour TTL in a Secret named like the policy; each
 * modifier changes one thing, so a test shows only what matters to it.
 */
import type { TokenPolicy, TokenPolicySpec } from '../../src/api/v1alpha1.generated.ts';

export type PolicyModifier = (spec: TokenPolicySpec) => TokenPolicySpec;

export function tokenPolicy(name: string, ...modifiers: PolicyModifier[]): TokenPolicy {
  const base: TokenPolicySpec = {
    issuerRef: { name: '' },
    token: { type: 'opaque', ttl: '1h' },
    secret: { name },
  };
  return {
    apiVersion: 'tokensmith.dev/v1alpha1',
    kind: 'TokenPolicy',
    metadata: { name },
    spec: modifiers.reduce((spec, modify) => modify(spec), base),
  };
}

/** On the ClusterTokenIssuer `name` (or the TokenIssuer, with kind). */
export const onIssuer =
  (name: string, kind?: 'TokenIssuer' | 'ClusterTokenIssuer'): PolicyModifier =>
  (spec) => ({ ...spec, issuerRef: { name, ...(kind ? { kind } : {}) } });

export const ttl =
  (value: string): PolicyModifier =>
  (spec) => ({ ...spec, token: { ...spec.token, ttl: value } });

/** A JWT for `audience`. */
export const jwt =
  (audience: string[], extra: Partial<NonNullable<TokenPolicySpec['token']['jwt']>> = {}): PolicyModifier =>
  (spec) => ({ ...spec, token: { ...spec.token, type: 'jwt', jwt: { audience, ...extra } } });

export const scopes =
  (...values: string[]): PolicyModifier =>
  (spec) => ({ ...spec, token: { ...spec.token, scopes: values } });

export const withRefresh =
  (refresh: NonNullable<TokenPolicySpec['token']['refresh']> = { enabled: true }): PolicyModifier =>
  (spec) => ({ ...spec, token: { ...spec.token, refresh } });

/** Rotation settings (overlap, schedule, renewBefore, historyLimit…), merged. */
export const rotation =
  (values: NonNullable<TokenPolicySpec['rotation']>): PolicyModifier =>
  (spec) => ({ ...spec, rotation: { ...spec.rotation, ...values } });

export const overlap = (value: string): PolicyModifier => rotation({ overlap: value });

export const schedule = (cron: string): PolicyModifier => rotation({ schedule: cron });

/** The Secret's name, or its keys (merged). */
export const secret =
  (values: Partial<TokenPolicySpec['secret']>): PolicyModifier =>
  (spec) => ({ ...spec, secret: { ...spec.secret, ...values } });

export const workloads =
  (...list: NonNullable<TokenPolicySpec['workloads']>): PolicyModifier =>
  (spec) => ({ ...spec, workloads: list });
