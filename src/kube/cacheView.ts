/**
 * The read side of informer caches, for code that only looks things up (ports, resolvers): one
 * informer's cache, or several joined (one informer per namespace in a namespaced install).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ResourceInformer } from './informer.ts';

/** What readers of a cache use: one informer's, or several joined (see joinedView). */
export type CacheView<T extends KubernetesObject> = Pick<ResourceInformer<T>, 'get' | 'list'>;

/** One view over the caches of several informers (e.g. one per namespace). */
export function joinedView<T extends KubernetesObject>(
  informers: readonly ResourceInformer<T>[],
): CacheView<T> {
  return {
    get: (key) => {
      for (const informer of informers) {
        const found = informer.get(key);
        if (found) return found;
      }
      return undefined;
    },
    list: (namespace) => informers.flatMap((informer) => informer.list(namespace)),
  };
}
