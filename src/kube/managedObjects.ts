/**
 * The informer of the Secrets or ConfigMaps tokensmith manages, across namespaces. They are found
 * by tokensmith's managed-by label, but a label is no proof of ownership (anyone who may create a
 * Secret may set it), so: they are watched as metadata only (their data never sits in the cache,
 * however large someone makes them), and `keep` can drop those no tokensmith object controls.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { GROUP, MANAGED_SELECTOR } from '../api/constants.ts';
import { createInformer, type InformerOptions, type ResourceInformer } from './informer.ts';
import { listMetadata } from './metadataOnly.ts';

/** Whether a tokensmith.dev object (a TokenPolicy) is the object's controller. */
export function controlledByTokensmith(obj: KubernetesObject): boolean {
  return (obj.metadata?.ownerReferences ?? []).some(
    (o) => o.controller === true && o.apiVersion.startsWith(`${GROUP}/`),
  );
}

/** Options: everything an informer takes but what this module decides. */
export type ManagedObjectsOptions<T extends KubernetesObject> = Omit<
  InformerOptions<T>,
  'path' | 'list' | 'labelSelector' | 'metadataOnly'
> & {
  resource: 'secrets' | 'configmaps';
  /** Watch one namespace only (namespaced installs); default: every namespace. */
  namespace?: string | undefined;
};

/** Creates (does not start) the metadata-only informer of managed `resource` (in every namespace by default). */
export function managedObjectsInformer<T extends KubernetesObject>(
  options: ManagedObjectsOptions<T>,
): ResourceInformer<T> {
  const { resource, namespace, ...rest } = options;
  const path =
    namespace === undefined ? `/api/v1/${resource}` : `/api/v1/namespaces/${namespace}/${resource}`;
  return createInformer<T>({
    ...rest,
    path,
    list: (o) => listMetadata<T>(options.kubeConfig, path, o),
    metadataOnly: true,
    labelSelector: MANAGED_SELECTOR,
  });
}
