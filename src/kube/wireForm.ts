import type { KubernetesObject } from '@kubernetes/client-node';

/**
 * Typed list items (class instances holding Dates) become the JSON form watch events carry, with
 * the kind and apiVersion that list items lack. A JSON round trip suffices: the models of the
 * resources an operator watches (Secrets, Leases, workloads, custom resources) name their fields
 * as the API does.
 */
export function toWireForm<T extends KubernetesObject>(
  item: T,
  apiVersion: string | undefined,
  kind: string | undefined,
): T {
  const prototype: unknown = Object.getPrototypeOf(item);
  const plain = prototype === Object.prototype ? item : (JSON.parse(JSON.stringify(item)) as T);
  return { ...plain, apiVersion: plain.apiVersion ?? apiVersion, kind: plain.kind ?? kind };
}
