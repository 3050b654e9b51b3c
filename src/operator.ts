/**
 * Wires the controller: informers for policies, issuers and managed Secrets and JWKS ConfigMaps
 * (by label only), one work queue per reconciler, request limiters toward both APIs, and leader
 * election so that one replica acts at a time. Informer events only enqueue keys.
 */
import { randomBytes } from 'node:crypto';
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Namespace,
  type V1Secret,
} from '@kubernetes/client-node';
import { LABEL, PLURAL } from './api/constants.ts';
import type { ClusterTokenIssuer, TokenIssuer, TokenPolicy } from './api/v1alpha1.generated.ts';
import type { Config } from './config.ts';
import { IssuerReconciler } from './controllers/issuer/reconciler.ts';
import { TokenPolicyReconciler, type PolicyReconcilerDeps } from './controllers/tokenPolicy/reconciler.ts';
import { issuerKey, type AnyIssuer } from './issuers/identity.ts';
import { CachedIssuerResolver } from './issuers/resolver.ts';
import { IssuerRuntimes } from './issuers/runtimes.ts';
import { credentialSources, issuerWriter, policyWriter, secretPort } from './kube/adapters.ts';
import { Applier } from './kube/apply.ts';
import { createEventRecorder } from './kube/events.ts';
import { customInformer, resyncSpreadMs, type InformerCommon } from './kube/customInformer.ts';
import { createInformer, joinedView, type ResourceInformer } from './kube/informer.ts';
import { TokensmithError } from './errors.ts';
import { controlledByTokensmith, managedObjectsInformer } from './kube/managedObjects.ts';
import { LeaderElector } from './kube/leaderElection.ts';
import { splitObjectKey } from './kube/objectKey.ts';
import { createWorkQueue, type WorkQueue } from './kube/workQueue.ts';
import { createWorkloadRestarter } from './kube/workloads.ts';
import type { Logger } from './log.ts';
import type { Clock } from './ports.ts';
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
}

/** A running controller; stop() drains the queues and releases the leader lease. */
export interface Operator {
  /** Resolves once the caches are synced and this replica leads (or election is off). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export function startOperator(options: OperatorOptions): Operator {
  const { config, kubeConfig, log, clock } = options;
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
  const spreadMs = resyncSpreadMs(resync);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const namespaces = config.namespaces.length > 0 ? [...config.namespaces] : [undefined];

  // Namespaces take turns, and while others wait none holds more than all workers but one: one
  // tenant's burst or slow Vault cannot starve the rest.
  const fairShare = Math.max(1, config.concurrency - 1);
  const policyQueue: WorkQueue = createWorkQueue({
    clock,
    logger: log,
    groupOf: (key) => key.slice(0, key.indexOf('/')),
    maxInFlightPerGroup: fairShare,
  });
  const issuerQueue: WorkQueue = createWorkQueue({
    clock,
    logger: log,
    // `TokenIssuer/<ns>/<name>` by namespace; ClusterTokenIssuers are the platform's, one group.
    groupOf: (key) => (key.startsWith('TokenIssuer/') ? (key.split('/')[1] ?? '') : ''),
    maxInFlightPerGroup: Math.max(1, Math.min(4, config.concurrency) - 1),
  });
  const policyInformers: ResourceInformer<TokenPolicy>[] = [];
  const findPolicy = (key: string) => {
    for (const informer of policyInformers) {
      const found = informer.get(key);
      if (found) return found;
    }
    return undefined;
  };
  const policyKey = (p: KubernetesObject) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
  const enqueuePolicy = (p: KubernetesObject) => {
    policyQueue.add(policyKey(p));
  };
  const resyncPolicy = (p: KubernetesObject) => {
    policyQueue.addAfter(policyKey(p), Math.random() * spreadMs);
  };
  const resyncIssuer = (issuer: AnyIssuer) => {
    issuerQueue.addAfter(issuerKey(issuer), Math.random() * spreadMs);
  };
  /** Every policy that references the issuer is re-evaluated when it changes. */
  const enqueueDependents = (issuer: AnyIssuer) => {
    issuerQueue.add(issuerKey(issuer));
    for (const informer of policyInformers) {
      for (const p of informer.list()) {
        const ref = p.spec.issuerRef;
        const kind = ref.kind ?? 'ClusterTokenIssuer';
        const matches =
          kind === issuer.kind &&
          ref.name === issuer.metadata?.name &&
          (kind === 'ClusterTokenIssuer' || p.metadata?.namespace === issuer.metadata.namespace);
        if (matches) enqueuePolicy(p);
      }
    }
  };

  for (const ns of namespaces) {
    policyInformers.push(
      customInformer<TokenPolicy>(
        kubeConfig,
        PLURAL.tokenPolicy,
        ns,
        common,
        { onChange: enqueuePolicy, onDelete: enqueuePolicy, onResync: resyncPolicy },
        resync,
      ),
    );
  }
  const tokenIssuerInformers = namespaces.map((ns) =>
    customInformer<TokenIssuer>(
      kubeConfig,
      PLURAL.tokenIssuer,
      ns,
      common,
      { onChange: enqueueDependents, onDelete: enqueueDependents, onResync: resyncIssuer },
      resync,
    ),
  );
  // A namespaced install has no cluster-wide right: no ClusterTokenIssuers, no namespace watch.
  const clusterScope = config.installScope === 'cluster';
  const clusterIssuerInformer = clusterScope
    ? customInformer<ClusterTokenIssuer>(
        kubeConfig,
        PLURAL.clusterTokenIssuer,
        undefined,
        {
          ...common,
          ...(config.clusterIssuerSelector ? { labelSelector: config.clusterIssuerSelector } : {}),
        },
        { onChange: enqueueDependents, onDelete: enqueueDependents, onResync: resyncIssuer },
        resync,
      )
    : undefined;
  /** The namespaces Secrets and ConfigMaps are watched in: all (undefined) or the served ones. */
  const objectNamespaces = clusterScope ? [undefined] : [...config.namespaces];
  const onSecret = (s: V1Secret) => {
    const policy = s.metadata?.labels?.[LABEL.policy];
    if (policy) policyQueue.add(`${s.metadata?.namespace ?? ''}/${policy}`);
  };
  const secretInformers = objectNamespaces.map((namespace) =>
    managedObjectsInformer<V1Secret>({
      kubeConfig,
      resource: 'secrets',
      namespace,
      keep: controlledByTokensmith,
      // The event of tokensmith's own write needs no reconcile: the one that wrote it is done.
      onChange: (s: V1Secret) => {
        if (!secrets.isOwnWrite(s)) onSecret(s);
      },
      onDelete: (s: V1Secret) => {
        secrets.forget({ namespace: s.metadata?.namespace ?? '', name: s.metadata?.name ?? '' });
        onSecret(s);
      },
      ...common,
    }),
  );
  const managedSecrets = joinedView(secretInformers);
  // Namespace labels decide which namespaces a ClusterTokenIssuer serves (spec.namespaces.selector).
  const enqueueNamespace = (ns: V1Namespace) => {
    for (const informer of policyInformers)
      for (const p of informer.list(ns.metadata?.name ?? '')) enqueuePolicy(p);
  };
  const namespaceInformer = clusterScope
    ? createInformer<V1Namespace>({
        kubeConfig,
        path: '/api/v1/namespaces',
        list: (o) => core.listNamespace(o),
        onChange: enqueueNamespace,
        onDelete: enqueueNamespace,
        ...common,
      })
    : undefined;
  // A JWKS ConfigMap someone edits or deletes is published again by its issuer.
  const onConfigMap = (cm: V1ConfigMap) => {
    const owner = cm.metadata?.ownerReferences?.find((o) => o.controller === true);
    if (owner?.kind === 'ClusterTokenIssuer') issuerQueue.add(`ClusterTokenIssuer/${owner.name}`);
    if (owner?.kind === 'TokenIssuer')
      issuerQueue.add(`TokenIssuer/${cm.metadata?.namespace ?? ''}/${owner.name}`);
  };
  const configMapInformers = objectNamespaces.map((namespace) =>
    managedObjectsInformer<V1ConfigMap>({
      kubeConfig,
      resource: 'configmaps',
      namespace,
      keep: controlledByTokensmith,
      onChange: (cm: V1ConfigMap) => {
        if (!issuerWrites.isOwnWrite(cm)) onConfigMap(cm);
      },
      onDelete: onConfigMap,
      ...common,
    }),
  );
  const jwksConfigMaps = joinedView(configMapInformers);

  const findIssuer = (kind: string, namespace: string | undefined, name: string): AnyIssuer | undefined => {
    if (kind === 'ClusterTokenIssuer') {
      if (!clusterIssuerInformer) {
        throw new TokensmithError(
          'IssuerNotFound',
          `this tokensmith is installed per namespace (--install-scope=namespaced) and serves TokenIssuers only; use a TokenIssuer in namespace ${namespace ?? ''}`,
        );
      }
      return clusterIssuerInformer.get(name);
    }
    for (const informer of tokenIssuerInformers) {
      const found = informer.get(`${namespace ?? ''}/${name}`);
      if (found) return found;
    }
    return undefined;
  };

  const events = createEventRecorder({
    kubeConfig,
    reportingInstance: config.leaderElection.identity,
    clock,
    logger: log,
    limiter: kubeLimiter,
  });
  const eventSink = {
    record: (object: Parameters<typeof events.record>[0], event: Parameters<typeof events.record>[1]) => {
      void events.record(object, event);
    },
  };
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
  });
  const policyReconciler = new TokenPolicyReconciler({
    clock,
    log,
    random: (n) => randomBytes(n),
    policies: { get: (key) => findPolicy(`${key.namespace}/${key.name}`) },
    issuers: new CachedIssuerResolver(
      (ref, ns) => findIssuer(ref.kind, ns, ref.name),
      runtimes,
      (ns) => {
        const found = namespaceInformer?.get(ns);
        return found ? (found.metadata?.labels ?? {}) : undefined;
      },
    ),
    secrets,
    writer: policyWriter(applier),
    events: eventSink,
    workloads: createWorkloadRestarter({
      kubeConfig,
      limiter: kubeLimiter,
      restartLimiter: createRequestLimiter({
        qps: config.workloadRestartQps,
        burst: Math.max(1, Math.ceil(config.workloadRestartQps * 2)),
        clock,
      }),
      clock,
      logger: log,
    }),
    scheduleJitterMs: config.scheduleJitterMs,
    minRotationIntervalMs: config.minRotationIntervalMs,
    ...(options.afterStep ? { afterStep: options.afterStep } : {}),
  });
  const issuerReconciler = new IssuerReconciler({
    clock,
    log,
    clusterResourceNamespace: config.clusterResourceNamespace,
    runtimes,
    writer: issuerWrites,
    events: eventSink,
  });

  const informers: ResourceInformer<KubernetesObject>[] = [
    ...policyInformers,
    ...tokenIssuerInformers,
    ...(clusterIssuerInformer ? [clusterIssuerInformer] : []),
    ...secretInformers,
    ...configMapInformers,
    ...(namespaceInformer ? [namespaceInformer] : []),
  ] as ResourceInformer<KubernetesObject>[];

  const elector = config.leaderElection.enabled
    ? new LeaderElector(kubeConfig, { ...config.leaderElection, clock, log })
    : undefined;
  let stopped = false;

  const startWork = async () => {
    for (const informer of informers) informer.start();
    await Promise.all(informers.map((i) => i.waitForSync()));
    policyQueue.start(
      async (key) => {
        const { namespace, name } = splitObjectKey(key);
        return policyReconciler.reconcile({ namespace: namespace ?? '', name });
      },
      { concurrency: config.concurrency },
    );
    issuerQueue.start(
      async (key) => {
        const [kind, ...rest] = key.split('/');
        const name = rest.at(-1) ?? '';
        const namespace = rest.length > 1 ? rest[0] : undefined;
        return issuerReconciler.reconcile(findIssuer(kind ?? '', namespace, name));
      },
      { concurrency: Math.max(1, Math.min(4, config.concurrency)) },
    );
    log.info(
      {
        policies: policyInformers.reduce((n, i) => n + i.list().length, 0),
        secrets: managedSecrets.list().length,
        namespaces: config.namespaces,
      },
      'caches synced; reconciling',
    );
  };

  const ready = new Promise<void>((resolve, reject) => {
    if (!elector) {
      startWork().then(resolve, reject);
      return;
    }
    void elector.run({
      onStartedLeading: () => {
        startWork().then(resolve, reject);
      },
      onStoppedLeading: () => {
        // Another replica may act now: stop at once, like client-go's leader election.
        log.fatal('lost leadership; stopping so that only one replica acts');
        if (options.onLostLeadership) options.onLostLeadership();
        else void stop();
      },
    });
  });

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all([policyQueue.shutdown(), issuerQueue.shutdown()]);
    await Promise.all(informers.map((i) => i.stop()));
    runtimes.closeAll();
    await elector?.stop();
  };

  return { ready, stop };
}
