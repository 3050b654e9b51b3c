/**
 * Wires the controller: the shared informers (kube/informerSet.ts: policies, issuers, managed
 * Secrets and JWKS ConfigMaps by label and as metadata only, namespaces), each with a Watch that
 * controllers register their map functions on; the adapters and request limiters toward both APIs; and the
 * manager, which owns the queues and leader election. The controllers register themselves
 * (controllers/*\/setup.ts); informer events only enqueue keys.
 */
import { WaveEvents } from './controllers/tokenPolicy/waveEvents.ts';
import { PooledKubeConfig } from './kube/pooledKubeConfig.ts';
import { createInformers } from './kube/informerSet.ts';
import { probeReadyz, watchApiRecovery } from './kube/apiRecovery.ts';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Config } from './config.ts';
import { setupIssuerController } from './controllers/issuer/setup.ts';
import type { PolicyReconcilerDeps } from './controllers/tokenPolicy/reconciler.ts';
import { setupPolicyController } from './controllers/tokenPolicy/setup.ts';
import { setupWorkloadRestartController } from './controllers/workloadRestart/setup.ts';
import { TokensmithError } from './errors.ts';
import type { AnyIssuer } from './issuers/identity.ts';
import { CachedIssuerResolver } from './issuers/resolver.ts';
import { IssuerRuntimes } from './issuers/runtimes.ts';
import { credentialSources } from './kube/credentialSources.ts';
import { issuerWriter } from './kube/issuerWriter.ts';
import { policyWriter } from './kube/policyWriter.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { startMetricsServer, type MetricsServer } from './metrics/server.ts';
import { policyIssuer } from './controllers/tokenPolicy/gather.ts';
import { secretPort } from './kube/secretPort.ts';
import { Applier } from './kube/apply.ts';
import { resyncSpreadMs, type InformerCommon } from './kube/customInformer.ts';
import { createEventRecorder, eventSink } from './kube/events.ts';
import { LeaderElector } from './kube/leaderElection.ts';
import { ShardLeases } from './kube/shardLeases.ts';
import { createWorkloadRestarter } from './kube/workloads.ts';
import type { Logger } from './log.ts';
import type { IssuerKey } from './manager/keys.ts';
import { Manager } from './manager/manager.ts';
import type { Clock } from './ports.ts';
import { issuerVaults } from './vault/issuerVault.ts';
import type { VerifyServer } from './verify/server.ts';
import { startVerification } from './verify/setup.ts';
import { createRequestLimiter, limiterPerKey } from './util/rateLimiter.ts';

export interface OperatorOptions {
  config: Config;
  kubeConfig: KubeConfig;
  log: Logger;
  clock: Clock;
  /**
   * Called when leadership is lost; main exits the process at once (in-flight work must not go on
   * while another replica leads). Default: stop the queues (for embedding and tests).
   */
  onLostLeadership?: () => void;
  /** Called after each executed step of a policy's lifecycle (fault-injection tests). */
  afterStep?: PolicyReconcilerDeps['afterStep'];
  /** Called after the token endpoint recorded an exchange, before it answers (fault-injection tests). */
  afterExchangeRecorded?: () => void;
}

/** A running controller; stop() drains the queues and releases the leader lease. */
export interface Operator {
  /** Resolves once the caches are synced and this replica leads (or election is off). */
  readonly ready: Promise<void>;
  /** The verification server once it listens (on every replica); undefined when it is off. */
  readonly verifyServer: Promise<VerifyServer | undefined>;
  /** This instance's metrics (served by the metrics server when it runs). */
  readonly metrics: Metrics;
  /** The metrics server once it listens; undefined when it is off. */
  readonly metricsServer: Promise<MetricsServer | undefined>;
  stop(): Promise<void>;
}

export function startOperator(options: OperatorOptions): Operator {
  const { config, log, clock } = options;
  // One TLS connection pool for every API client (client-node opens one per request otherwise).
  const metrics = createMetrics({ processMetrics: config.metrics !== undefined });
  const kubeConfig = PooledKubeConfig.from(options.kubeConfig, {
    onRequest: (method) => {
      metrics.kubeRequests.inc({ method });
    },
  });
  const kubeLimiter = createRequestLimiter({ qps: config.kube.qps, burst: config.kube.burst, clock });
  // Each Vault server has the limits of its own: a namespace's slow or flooded Vault spends only its
  // own budget, and within one server namespaces take turns (the work queues' request groups).
  const vaultLimiter = limiterPerKey({ qps: config.vault.qps, burst: config.vault.burst, clock });
  const common: InformerCommon = {
    limiter: kubeLimiter,
    clock,
    logger: log,
    pageSize: config.listPageSize,
    relistIntervalMs: config.relistIntervalMs,
  };
  const resync = config.resyncPeriodMs;
  const manager = new Manager({
    clock,
    log,
    metrics,
    ...(config.leaderElection.enabled && (config.leaderElection.shards ?? 1) > 1
      ? {
          shards: new ShardLeases(kubeConfig, {
            ...config.leaderElection,
            shards: config.leaderElection.shards ?? 1,
            clock,
            log,
          }),
        }
      : config.leaderElection.enabled
        ? { elector: new LeaderElector(kubeConfig, { ...config.leaderElection, clock, log }) }
        : {}),
    ...(options.onLostLeadership ? { onLostLeadership: options.onLostLeadership } : {}),
  });
  const {
    policyWatch,
    policies,
    issuerWatch,
    tokenIssuers,
    clusterIssuers,
    secretWatch,
    managedSecrets,
    configMapWatch,
    jwksConfigMaps,
    namespaceWatch,
    namespaceInformer,
  } = createInformers({ manager, kubeConfig, config, common, resync });

  const findIssuer = (key: IssuerKey): AnyIssuer | undefined => {
    if (key.kind === 'TokenIssuer') return tokenIssuers.get(`${key.namespace}/${key.name}`);
    if (!clusterIssuers) {
      throw new TokensmithError(
        'IssuerNotFound',
        "this tokensmith is installed per namespace (--install-scope=namespaced) and serves TokenIssuers only; use a TokenIssuer in the policy's namespace",
      );
    }
    return clusterIssuers.get(key.name);
  };
  const events = eventSink(
    createEventRecorder({
      kubeConfig,
      reportingInstance: config.leaderElection.identity,
      clock,
      logger: log,
      limiter: kubeLimiter,
    }),
  );
  const waves = new WaveEvents(events, clock);
  const applier = new Applier(kubeConfig, kubeLimiter);
  const secrets = secretPort({ kubeConfig, limiter: kubeLimiter, applier, managedSecrets });
  const issuerWrites = issuerWriter({
    kubeConfig,
    limiter: kubeLimiter,
    applier,
    configMaps: jwksConfigMaps,
  });
  const runtimes = new IssuerRuntimes({
    config,
    sources: credentialSources(kubeConfig, kubeLimiter),
    limiter: vaultLimiter,
    log,
    clock,
    metrics,
  });
  // Work that failed because a Vault server was away is retried as soon as it answers again, not
  // after each key's own backoff (which grows to minutes during a long outage).
  runtimes.onVaultRecovered((address) => {
    const woken = manager.retryFailed();
    log.info({ vault: address, retrying: woken }, 'Vault answers again; retrying the work that failed');
  });
  // Likewise for the API server: the watches resume as soon as it is ready again.
  const apiRecovery = watchApiRecovery({
    informers: () => manager.allInformers(),
    probe: () => probeReadyz(kubeConfig),
    clock,
    log,
    onRecovered: (downForMs) => {
      const woken = manager.retryFailed();
      log.info(
        { downForMs, retrying: woken },
        'the API server answers again; watches resumed, failed work retried',
      );
    },
  });
  const spreadMs = resyncSpreadMs(resync);
  const policyWrites = policyWriter(applier);
  const issuerResolver = new CachedIssuerResolver(
    (ref, ns) =>
      findIssuer(
        ref.kind === 'TokenIssuer'
          ? { ...ref, kind: 'TokenIssuer', namespace: ns }
          : { kind: 'ClusterTokenIssuer', name: ref.name },
      ),
    runtimes,
    (ns) => {
      const found = namespaceInformer?.get(ns);
      return found ? (found.metadata?.labels ?? {}) : undefined;
    },
    clock,
  );

  setupPolicyController(manager, {
    concurrency: config.concurrency,
    deps: {
      clock,
      log,
      metrics,
      random: (n) => randomBytes(n),
      policies: { get: (key) => policies.get(`${key.namespace}/${key.name}`) },
      issuers: issuerResolver,
      secrets,
      writer: policyWrites,
      events,
      waves,
      scheduleJitterMs: config.scheduleJitterMs,
      minRotationIntervalMs: config.minRotationIntervalMs,
      ...(options.afterStep ? { afterStep: options.afterStep } : {}),
    },
    policies: policyWatch,
    policiesIn: (ns) => policies.list(ns),
    issuers: issuerWatch,
    secrets: secretWatch,
    secretWrites: secrets,
    policyWrites,
    ...(namespaceInformer ? { namespaces: namespaceWatch } : {}),
    resyncSpreadMs: spreadMs,
  });
  setupWorkloadRestartController(manager, {
    concurrency: Math.max(1, Math.min(4, config.concurrency)),
    deps: {
      log,
      policies: { get: (key) => policies.get(`${key.namespace}/${key.name}`) },
      events,
      workloads: createWorkloadRestarter({
        kubeConfig,
        limiter: kubeLimiter,
        // A mass rotation rolls the cluster gradually.
        restartLimiter: createRequestLimiter({
          qps: config.workloadRestartQps,
          burst: Math.max(1, Math.ceil(config.workloadRestartQps * 2)),
          clock,
        }),
        clock,
        logger: log,
      }),
    },
    policies: policyWatch,
    allPolicies: () => policies.list(),
    resyncSpreadMs: spreadMs,
  });
  setupIssuerController(manager, {
    concurrency: Math.max(1, Math.min(4, config.concurrency)),
    deps: {
      clock,
      log,
      clusterResourceNamespace: config.clusterResourceNamespace,
      vaults: issuerVaults(runtimes),
      writer: issuerWrites,
      verificationServed: config.verify !== undefined,
      events,
    },
    find: findIssuer,
    all: () => [...(clusterIssuers?.list() ?? []), ...tokenIssuers.list()],
    issuers: issuerWatch,
    configMaps: configMapWatch,
    isOwnWrite: (cm) => issuerWrites.isOwnWrite(cm),
    resyncSpreadMs: spreadMs,
  });
  manager.onSynced(() => {
    log.info(
      {
        policies: policies.list().length,
        secrets: managedSecrets.list().length,
        namespaces: config.namespaces,
      },
      'caches synced',
    );
  });

  const ready = manager.start();
  const verification = startVerification({
    config: config.verify,
    kubeConfig,
    kubeLimiter,
    clock,
    log,
    runtimes,
    issuers: () => [...(clusterIssuers?.list() ?? []), ...tokenIssuers.list()],
    policy: (key) => policies.get(`${key.namespace}/${key.name}`),
    policies: policyWatch,
    cachesSynced: manager.cachesSynced,
    metrics,
    replica: config.leaderElection.identity,
    writeUsage: (policy, usage) => policyWrites.applyUsage(policy, usage, config.leaderElection.identity),
    exchange: {
      random: (n) => randomBytes(n),
      events,
      resolve: policyIssuer(issuerResolver, config.minRotationIntervalMs),
      annotate: (policy, annotations) => policyWrites.annotate(policy, annotations),
      ...(options.afterExchangeRecorded ? { afterRecorded: options.afterExchangeRecorded } : {}),
    },
  });
  let cachesSynced = false;
  void manager.cachesSynced.then(() => {
    cachesSynced = true;
  });
  metrics.observe({
    policies: () => policies.list(),
    issuers: () => [...(clusterIssuers?.list() ?? []), ...tokenIssuers.list()],
    queues: () => manager.queueStats(),
    leading: () => manager.leading,
    shards: () => manager.heldShards,
  });
  const metricsServer = config.metrics
    ? startMetricsServer({
        port: config.metrics.port,
        registry: metrics.registry,
        log,
        ready: () => cachesSynced,
        problems: () => manager.watchProblems(),
      })
    : undefined;
  return {
    ready,
    verifyServer: verification.server,
    metrics,
    metricsServer: metricsServer ?? Promise.resolve(undefined),
    stop: async () => {
      await (await metricsServer?.catch(() => undefined))?.close();
      await verification.stop();
      apiRecovery.stop();
      await manager.stop();
      waves.stop();
      runtimes.closeAll();
      await kubeConfig.close();
    },
  };
}
