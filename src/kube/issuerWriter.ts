/** Writes the issuer controller's objects (IssuerWriter): JWKS ConfigMaps and issuer status. */
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { API_VERSION, GROUP, PLURAL, VERSION } from '../api/constants.ts';
import type { TokenIssuerStatus } from '../api/v1alpha1.generated.ts';
import type { IssuerWriter } from '../controllers/issuer/ports.ts';
import { TokensmithError } from '../errors.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { RequestLimiter } from '../ports.ts';
import { kubeError, kubeStatus } from './apiErrors.ts';
import type { Applier } from './apply.ts';
import type { CacheView } from './informer.ts';
import { isSameWrite, unchanged } from './ownWrites.ts';

/**
 * The issuer reconciler's writes. JWKS ConfigMaps are cached as metadata only, so their data is
 * known from tokensmith's own last apply while the cached resourceVersion still matches it; when
 * it does not (someone edited the ConfigMap, or after a restart), it reads as unknown and the
 * reconciler applies the JWKS again.
 */
export function issuerWriter(options: {
  kubeConfig: KubeConfig;
  limiter: RequestLimiter;
  applier: Applier;
  configMaps: CacheView<V1ConfigMap>;
}): IssuerWriter & { isOwnWrite(configMap: V1ConfigMap): boolean } {
  const { applier, configMaps, limiter } = options;
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const written = new Map<string, V1ConfigMap>();
  return {
    configMapData(namespace: string, name: string) {
      const id = `${namespace}/${name}`;
      const cached = configMaps.get(id);
      const ours = written.get(id);
      if (!cached) written.delete(id);
      return cached && ours && cached.metadata?.resourceVersion === ours.metadata?.resourceVersion
        ? ours.data
        : undefined;
    },
    async applyConfigMap(
      namespace: string,
      name: string,
      data: Record<string, string>,
      labels: Record<string, string>,
      owner: AnyIssuer,
    ) {
      const id = `${namespace}/${name}`;
      const uid = owner.metadata?.uid ?? '';
      const taken = () =>
        new TokensmithError(
          'ConfigMapNotOwned',
          `ConfigMap ${id} exists and was not created by tokensmith for this issuer; tokensmith does not take ` +
            'it over: delete or rename it, and the JWKS is published there',
        );
      const body: V1ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name,
          namespace,
          labels,
          ownerReferences: [
            {
              apiVersion: API_VERSION,
              kind: owner.kind,
              name: owner.metadata?.name ?? '',
              uid,
              controller: true,
            },
          ],
        },
        data,
      };
      const cached = configMaps.get(id);
      const controlledByOwner = (cm: V1ConfigMap | undefined) =>
        (cm?.metadata?.ownerReferences ?? []).some((o) => o.controller === true && o.uid === uid);
      if (cached && !controlledByOwner(cached)) throw taken();
      if (!cached && !controlledByOwner(written.get(id))) {
        // Not a ConfigMap of ours that the cache knows: create it, which fails if one exists.
        try {
          written.set(id, await limiter.run(() => core.createNamespacedConfigMap({ namespace, body })));
          return;
        } catch (err) {
          if (kubeStatus(err) === 409) throw taken();
          throw kubeError(`creating ConfigMap ${id}`, err);
        }
      }
      written.set(id, await applier.apply<V1ConfigMap>(body));
    },
    isOwnWrite(configMap: V1ConfigMap) {
      return isSameWrite(written, configMap);
    },
    async applyStatus(issuer: AnyIssuer, status: TokenIssuerStatus) {
      if (unchanged(issuer.status, status)) return;
      const name = issuer.metadata?.name ?? '';
      const namespace = issuer.kind === 'TokenIssuer' ? issuer.metadata?.namespace : undefined;
      await applier.applyStatus(
        {
          group: GROUP,
          version: VERSION,
          plural: issuer.kind === 'TokenIssuer' ? PLURAL.tokenIssuer : PLURAL.clusterTokenIssuer,
          name,
          ...(namespace ? { namespace } : {}),
        },
        {
          apiVersion: API_VERSION,
          kind: issuer.kind,
          metadata: { name, ...(namespace ? { namespace } : {}) },
          status,
        },
      );
    },
  };
}
