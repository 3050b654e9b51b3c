/**
 * The shared informers of one controller: policies and TokenIssuers per served namespace, the
 * ClusterTokenIssuers (by the issuer selector), the managed Secrets and JWKS ConfigMaps (by label
 * and as metadata only) and the namespaces, each added to the manager and paired with a Watch that
 * controllers register their map functions on. A namespaced install has no cluster-wide right: no
 * ClusterTokenIssuers, no namespace watch, and Secrets and ConfigMaps only in the served namespaces.
 */
import {
  CoreV1Api,
  type KubeConfig,
  type V1ConfigMap,
  type V1Namespace,
  type V1Secret,
} from '@kubernetes/client-node';
import { PLURAL } from '../api/constants.ts';
import type { ClusterTokenIssuer, TokenIssuer, TokenPolicy } from '../api/v1alpha1.generated.ts';
import type { Config } from '../config.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { Manager } from '../manager/manager.ts';
import { Watch } from '../manager/watch.ts';
import { customInformer, type InformerCommon } from './customInformer.ts';
import { createInformer, joinedView, type ResourceInformer } from './informer.ts';
import { controlledByTokensmith, managedObjectsInformer } from './managedObjects.ts';

export function createInformers(options: {
  manager: Manager;
  kubeConfig: KubeConfig;
  config: Pick<Config, 'installScope' | 'namespaces' | 'clusterIssuerSelector'>;
  common: InformerCommon;
  resync: number;
}) {
  const { manager, kubeConfig, config, common, resync } = options;
  const clusterScope = config.installScope === 'cluster';
  const namespaces = config.namespaces.length > 0 ? [...config.namespaces] : [undefined];
  const objectNamespaces = clusterScope ? [undefined] : [...config.namespaces];

  const policyWatch = new Watch<TokenPolicy>();
  const policyInformers = namespaces.map((ns) =>
    manager.addInformer(
      customInformer<TokenPolicy>(kubeConfig, PLURAL.tokenPolicy, ns, common, policyWatch.handlers, resync),
    ),
  );
  const policies = joinedView(policyInformers);
  const issuerWatch = new Watch<AnyIssuer>();
  const tokenIssuers = joinedView(
    namespaces.map((ns) =>
      manager.addInformer(
        customInformer<TokenIssuer>(kubeConfig, PLURAL.tokenIssuer, ns, common, issuerWatch.handlers, resync),
      ),
    ),
  );
  const clusterIssuers = clusterScope
    ? manager.addInformer(
        customInformer<ClusterTokenIssuer>(
          kubeConfig,
          PLURAL.clusterTokenIssuer,
          undefined,
          {
            ...common,
            ...(config.clusterIssuerSelector ? { labelSelector: config.clusterIssuerSelector } : {}),
          },
          issuerWatch.handlers,
          resync,
        ),
      )
    : undefined;
  /** Informers of one managed kind per watched namespace, as one view. */
  const managed = <T extends V1Secret | V1ConfigMap>(resource: 'secrets' | 'configmaps', watch: Watch<T>) =>
    joinedView(
      objectNamespaces.map((namespace) =>
        manager.addInformer(
          managedObjectsInformer<T>({
            kubeConfig,
            resource,
            namespace,
            keep: controlledByTokensmith,
            ...watch.handlers,
            ...common,
          }),
        ),
      ),
    );
  const secretWatch = new Watch<V1Secret>();
  const managedSecrets = managed('secrets', secretWatch);
  const configMapWatch = new Watch<V1ConfigMap>();
  const jwksConfigMaps = managed('configmaps', configMapWatch);
  // Namespace labels decide which namespaces a ClusterTokenIssuer serves (spec.namespaces.selector).
  const namespaceWatch = new Watch<V1Namespace>();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const namespaceInformer: ResourceInformer<V1Namespace> | undefined = clusterScope
    ? manager.addInformer(
        createInformer<V1Namespace>({
          kubeConfig,
          path: '/api/v1/namespaces',
          list: (o) => core.listNamespace(o),
          ...namespaceWatch.handlers,
          ...common,
        }),
      )
    : undefined;

  return {
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
  };
}
