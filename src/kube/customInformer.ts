/**
 * Informers of tokensmith's own kinds (TokenPolicy, TokenIssuer, ClusterTokenIssuer), in one
 * namespace or all, with the settings every informer of the operator shares.
 */
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { GROUP, VERSION } from '../api/constants.ts';
import type { Logger } from '../log.ts';
import type { Clock } from '../ports.ts';
import type { createRequestLimiter } from '../util/rateLimiter.ts';
import { createInformer, type ListOptions, type ResourceInformer } from './informer.ts';

/** What every informer of the operator shares. */
export interface InformerCommon {
  limiter: ReturnType<typeof createRequestLimiter>;
  clock: Clock;
  logger: Logger;
  pageSize: number;
  relistIntervalMs: number;
}

/**
 * A resync spreads its keys over this long (a tenth of the period, at most 5 minutes), so that
 * thousands of policies do not all become due in the same instant ahead of new work.
 */
export function resyncSpreadMs(periodMs: number): number {
  return Math.min(periodMs / 10, 5 * 60_000);
}

export function customInformer<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  plural: string,
  namespace: string | undefined,
  common: InformerCommon & { labelSelector?: string },
  handlers: { onChange: (o: T) => void; onDelete: (o: T) => void; onResync: (o: T) => void },
  resyncIntervalMs: number,
): ResourceInformer<T> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const base = `/apis/${GROUP}/${VERSION}`;
  return createInformer<T>({
    kubeConfig,
    path: namespace ? `${base}/namespaces/${namespace}/${plural}` : `${base}/${plural}`,
    list: (o: ListOptions) =>
      (namespace
        ? api.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural, namespace, ...o })
        : api.listClusterCustomObject({ group: GROUP, version: VERSION, plural, ...o })) as Promise<
        KubernetesListObject<T>
      >,
    ...common,
    ...handlers,
    resyncIntervalMs,
  });
}
