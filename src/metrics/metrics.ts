/**
 * tokensmith's Prometheus metrics (prom-client), one registry per operator instance so that
 * several controllers in one process (tests) never share counts. Labels carry names and reasons,
 * never a token; a fingerprint is the most any metric may carry.
 */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/** Why a usage signal was raised (see verify/usage.ts). */
export type UsageSignal =
  | 'RevokedTokenPresented'
  | 'ExpiredTokenPresented'
  | 'NotAConsumer'
  | 'RefreshTokenReplayed'
  | 'RetiringTokenPresented'
  | 'UnknownTokenBurst';

export interface Metrics {
  registry: Registry;
  /** Suspicious uses of tokens seen by the verification server, by signal and policy (or issuer). */
  usageSignals: Counter<'signal' | 'namespace' | 'name'>;
}

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'tokensmith_' });
  return {
    registry,
    usageSignals: new Counter({
      name: 'tokensmith_usage_signals_total',
      help: 'Suspicious uses of tokens seen by the verification server, by signal and policy (the issuer for unknown-token bursts)',
      labelNames: ['signal', 'namespace', 'name'],
      registers: [registry],
    }),
  };
}
