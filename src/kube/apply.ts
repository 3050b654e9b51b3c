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

  /**
   * Merges annotations into a custom resource (a JSON merge patch, not an apply: it must leave
   * the fields this field manager applies — the finalizer — untouched).
   */
  async mergeAnnotations(ref: CustomResourceRef, annotations: Record<string, string>): Promise<void> {
    await this.patchCustom('annotating', ref, { metadata: { annotations } }, PatchStrategy.MergePatch, false);
  }

  /** Applies the status subresource of a custom resource; `body` holds apiVersion, kind, name and status. */
  async applyStatus(
    ref: CustomResourceRef,
    body: Record<string, unknown>,
    fieldManager: string = FIELD_MANAGER,
  ): Promise<string | undefined> {
    return this.patchCustom(
      'writing the status of',
      ref,
      body,
      PatchStrategy.ServerSideApply,
      true,
      fieldManager,
    );
  }

  /** One patch of a custom resource (or its status subresource), through the limiter. */
  private async patchCustom(
    doing: string,
    ref: CustomResourceRef,
    body: Record<string, unknown>,
    strategy: PatchStrategy,
    status: boolean,
    fieldManager: string = FIELD_MANAGER,
  ): Promise<string | undefined> {
    const what = `${doing} ${ref.plural} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    const options = setHeaderOptions('Content-Type', strategy);
    const params = {
      group: ref.group,
      version: ref.version,
      plural: ref.plural,
      name: ref.name,
      body,
      ...(strategy === PatchStrategy.ServerSideApply ? { fieldManager, force: true } : {}),
    };
    const namespace = ref.namespace;
    try {
      const written: unknown = await this.limiter.run((): Promise<unknown> => {
        if (namespace === undefined) {
          return status
            ? this.custom.patchClusterCustomObjectStatus(params, options)
            : this.custom.patchClusterCustomObject(params, options);
        }
        return status
          ? this.custom.patchNamespacedCustomObjectStatus({ ...params, namespace }, options)
          : this.custom.patchNamespacedCustomObject({ ...params, namespace }, options);
      });
      return (written as KubernetesObject | undefined)?.metadata?.resourceVersion;
    } catch (err) {
      throw kubeError(what, err);
    }
  }
}
