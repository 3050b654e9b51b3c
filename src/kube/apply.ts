/**
 * Server-side apply for everything tokensmith writes, with one field manager: Secrets, ConfigMaps,
 * finalizers, and the status subresource of its own resources. No-op writes are skipped by the
 * callers comparing what they would send with what the cache holds.
 */
import {
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../api/constants.ts';
import type { RequestLimiter } from '../ports.ts';
import { kubeError } from './apiErrors.ts';

/** Where a custom resource lives, for status writes. */
export interface CustomResourceRef {
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name: string;
}

export class Applier {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly limiter: RequestLimiter;

  constructor(kubeConfig: KubeConfig, limiter: RequestLimiter) {
    this.objects = KubernetesObjectApi.makeApiClient(kubeConfig);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.limiter = limiter;
  }

  /** Applies `object` (apiVersion, kind, metadata.name[/namespace] and the fields tokensmith owns). */
  async apply<T extends KubernetesObject>(object: T): Promise<T> {
    const what = `applying ${object.kind ?? 'object'} ${object.metadata?.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata?.name ?? ''}`;
    try {
      return await this.limiter.run(() =>
        this.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
      );
    } catch (err) {
      throw kubeError(what, err);
    }
  }

  /** Applies the status subresource of a custom resource; `body` holds apiVersion, kind, name and status. */
  async applyStatus(ref: CustomResourceRef, body: Record<string, unknown>): Promise<void> {
    const what = `writing the status of ${ref.plural} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    const options = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    try {
      const params = {
        group: ref.group,
        version: ref.version,
        plural: ref.plural,
        name: ref.name,
        body,
        fieldManager: FIELD_MANAGER,
        force: true,
      };
      const namespace = ref.namespace;
      await this.limiter.run(() =>
        namespace === undefined
          ? this.custom.patchClusterCustomObjectStatus(params, options)
          : this.custom.patchNamespacedCustomObjectStatus({ ...params, namespace }, options),
      );
    } catch (err) {
      throw kubeError(what, err);
    }
  }
}
