/**
 * The string keys that connect informers, caches and work queues: `namespace/name` for namespaced
 * objects and `name` for cluster-scoped ones, as client-go's MetaNamespaceKeyFunc makes them.
 */
import type { KubernetesObject } from '@kubernetes/client-node';

/** The key of an object: `namespace/name`, or `name` when it has no namespace. */
export function objectKey(obj: KubernetesObject): string {
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits a key made by objectKey back into namespace (undefined if cluster-scoped) and name. */
export function splitObjectKey(key: string): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: undefined, name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
