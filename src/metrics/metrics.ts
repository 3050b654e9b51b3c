/**
 * tokensmith's Prometheus metrics (prom-client), in the style of cert-manager's: one registry per
 * operator instance, so several controllers in one process (tests) never share counts. Labels
 * carry names, reasons, operations and status codes — never a token; a fingerprint is the most any
 * metric may carry, and none does today.
 *
 * The per-object gauges (a token's expiry and renewal, a policy's readiness, an issuer's key
 * rotation) are computed from the informer caches at scrape time (collect()), so they always agree
 * with the objects' status and a deleted object's series disappear with it.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import type { AnyIssuer } from '../issuers/identity.ts';

/** Why a usage signal was raised (see verify/usage.ts). */
export type UsageSignal =
  | 'RevokedTokenPresented'
  | 'ExpiredTokenPresented'
  | 'NotAConsumer'
  | 'RefreshTokenReplayed'
  | 'RetiringTokenPresented'
  | 'UnknownTokenBurst';

/** What the collectors read at scrape time. */
export interface MetricsSources {
  policies(): readonly TokenPolicy[];
  issuers(): readonly AnyIssuer[];
  /** Work queues by controller name. */
  queues(): readonly { name: string; depth: number; scheduled: number; inFlight: number; retries: number }[];
  leading(): boolean;
  /** The shards this replica holds; undefined when not sharded. */
  shards?(): readonly number[] | undefined;
}

export interface Metrics {
  registry: Registry;
  /** Suspicious uses of tokens seen by the verification server, by signal and policy (or issuer). */
  usageSignals: Counter<'signal' | 'namespace' | 'name'>;
  /** Token versions activated (a rotation happened), by mint reason. */
  rotations: Counter<'reason'>;
  /** Token versions revoked, by reason. */
  revocations: Counter<'reason'>;
  reconciles: Counter<'controller' | 'result'>;
  reconcileDuration: Histogram<'controller'>;
  queueLatency: Histogram<'name'>;
  kubeRequests: Counter<'method'>;
  vaultRequests: Counter<'operation' | 'code'>;
  vaultDuration: Histogram<'operation'>;
  verifyRequests: Counter<'endpoint' | 'code'>;
  /** Sets where the per-object gauges read from (once the caches exist). */
  observe(sources: MetricsSources): void;
}

const seconds = (iso: string | undefined): number | undefined => {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(t) ? t / 1000 : undefined;
};

export function createMetrics(options: { processMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: 'tokensmith_' });
  let sources: MetricsSources | undefined;
  const registers = [registry];
  const policyLabels = ['namespace', 'name', 'issuer_kind', 'issuer_name'] as const;
  const issuerOf = (p: TokenPolicy) => ({
    namespace: p.metadata?.namespace ?? '',
    name: p.metadata?.name ?? '',
    issuer_kind: p.spec.issuerRef.kind ?? 'ClusterTokenIssuer',
    issuer_name: p.spec.issuerRef.name,
  });

  /** A gauge of one timestamp per object, read from the caches at scrape time. */
  const timeGauge = <O, L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    objects: () => readonly O[],
    labels: (o: O) => Record<L, string>,
    time: (o: O) => string | undefined,
  ) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const o of objects()) {
          const at = seconds(time(o));
          if (at !== undefined) this.set(labels(o), at);
        }
      },
    });
  const policies = () => sources?.policies() ?? [];
  timeGauge(
    'tokensmith_token_expiration_timestamp_seconds',
    "When the policy's current token expires (status.expiresAt), in Unix seconds",
    policyLabels,
    policies,
    issuerOf,
    (p) => p.status?.expiresAt,
  );
  timeGauge(
    'tokensmith_token_renewal_timestamp_seconds',
    "When the policy's current token is due to be replaced (status.nextRotationAt), in Unix seconds",
    policyLabels,
    policies,
    issuerOf,
    (p) => p.status?.nextRotationAt,
  );
  new Gauge({
    name: 'tokensmith_tokenpolicy_ready_status',
    help: "The policy's Ready condition: 1 on the series of its status (True, False or Unknown), 0 on the others",
    labelNames: [...policyLabels, 'condition'],
    registers,
    collect() {
      this.reset();
      for (const p of sources?.policies() ?? []) {
        const ready = p.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
        for (const condition of ['True', 'False', 'Unknown']) {
          this.set({ ...issuerOf(p), condition }, condition === ready ? 1 : 0);
        }
      }
    },
  });
  const issuerLabels = ['kind', 'namespace', 'name'] as const;
  const issuerKey = (i: AnyIssuer) => ({
    kind: i.kind,
    namespace: i.metadata?.namespace ?? '',
    name: i.metadata?.name ?? '',
  });
  const issuers = () => sources?.issuers() ?? [];
  timeGauge(
    'tokensmith_issuer_key_created_timestamp_seconds',
    "When the issuer's signing key that signs now was made, in Unix seconds",
    issuerLabels,
    issuers,
    issuerKey,
    (i) => i.status?.keys?.find((k) => k.kid === i.status?.activeKid)?.createdAt,
  );
  timeGauge(
    'tokensmith_issuer_next_key_rotation_timestamp_seconds',
    "When the issuer's signing key is next rotated (status.nextKeyRotationAt), in Unix seconds",
    issuerLabels,
    issuers,
    issuerKey,
    (i) => i.status?.nextKeyRotationAt,
  );
  const queueGauge = (
    name: string,
    help: string,
    read: (q: ReturnType<MetricsSources['queues']>[number]) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['name'],
      registers,
      collect() {
        this.reset();
        for (const q of sources?.queues() ?? []) this.set({ name: q.name }, read(q));
      },
    });
  queueGauge('tokensmith_workqueue_depth', 'Keys due now and waiting for a worker', (q) => q.depth);
  queueGauge('tokensmith_workqueue_scheduled', 'Keys waiting for a future due time', (q) => q.scheduled);
  queueGauge('tokensmith_workqueue_in_flight', 'Keys being reconciled now', (q) => q.inFlight);
  queueGauge(
    'tokensmith_workqueue_retries',
    'Retries scheduled after failed reconciles since start',
    (q) => q.retries,
  );
  new Gauge({
    name: 'tokensmith_leader_election_status',
    help: '1 while this replica leads (or runs without election), else 0',
    registers,
    collect() {
      this.set(sources?.leading() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tokensmith_shards_held',
    help: 'Shards whose Lease this replica holds (--shards > 1)',
    registers,
    collect() {
      this.set(sources?.shards?.()?.length ?? 0);
    },
  });

  return {
    registry,
    usageSignals: new Counter({
      name: 'tokensmith_usage_signals_total',
      help: 'Suspicious uses of tokens seen by the verification server, by signal and policy (the issuer for unknown-token bursts)',
      labelNames: ['signal', 'namespace', 'name'],
      registers,
    }),
    rotations: new Counter({
      name: 'tokensmith_rotations_total',
      help: 'Token versions activated, by why they were minted (Initial, Renewal, Scheduled, Requested, Compromised, …)',
      labelNames: ['reason'],
      registers,
    }),
    revocations: new Counter({
      name: 'tokensmith_revocations_total',
      help: 'Token versions revoked, by reason (OverlapEnded, Compromised, KeyCompromised, Abandoned, …)',
      labelNames: ['reason'],
      registers,
    }),
    reconciles: new Counter({
      name: 'tokensmith_controller_reconcile_total',
      help: 'Reconciles, by controller and result (success, error)',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileDuration: new Histogram({
      name: 'tokensmith_controller_reconcile_duration_seconds',
      help: 'How long reconciles take, by controller',
      labelNames: ['controller'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    queueLatency: new Histogram({
      name: 'tokensmith_workqueue_queue_duration_seconds',
      help: 'How long a key waits, from due to taken by a worker, by queue',
      labelNames: ['name'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60],
      registers,
    }),
    kubeRequests: new Counter({
      name: 'tokensmith_kube_requests_total',
      help: 'Requests sent to the Kubernetes API server, by HTTP method (a watch counts as one GET)',
      labelNames: ['method'],
      registers,
    }),
    vaultRequests: new Counter({
      name: 'tokensmith_vault_requests_total',
      help: 'Requests to Vault, by operation and HTTP status code ("error" when no answer came)',
      labelNames: ['operation', 'code'],
      registers,
    }),
    vaultDuration: new Histogram({
      name: 'tokensmith_vault_request_duration_seconds',
      help: 'How long Vault requests take, by operation',
      labelNames: ['operation'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    verifyRequests: new Counter({
      name: 'tokensmith_verification_requests_total',
      help: 'Requests to the verification server, by endpoint (discovery, jwks, introspect, token, other) and status code',
      labelNames: ['endpoint', 'code'],
      registers,
    }),
    observe(next) {
      sources = next;
    },
  };
}
