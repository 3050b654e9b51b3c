/**
 * The Kubernetes ports of the reconcilers, on top of the informer caches and the Applier:
 * Secrets (cache first, API for a Secret that is not ours yet), policy status and finalizers,
 * issuer status and JWKS ConfigMaps, and credentials for Vault logins. Status writes whose content
 * equals the cached status are skipped.
 */
import { readFile } from 'node:fs/promises';
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1ConfigMap,
  type V1Secret,
} from '@kubernetes/client-node';
import { API_VERSION, FINALIZER, GROUP, PLURAL, VERSION } from '../api/constants.ts';
import type { TokenIssuerStatus, TokenPolicy, TokenPolicyStatus } from '../api/v1alpha1.generated.ts';
import type { IssuerWriter } from '../controllers/issuer/reconciler.ts';
import type { PolicyWriter, SecretPort } from '../controllers/tokenPolicy/ports.ts';
import { stableHash } from '../core/fingerprint.ts';
import { TokensmithError } from '../errors.ts';
import type { CredentialSources } from '../issuers/connection.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { ObjectKey, RequestLimiter } from '../ports.ts';
import { kubeError, kubeStatus } from './apiErrors.ts';
import type { Applier } from './apply.ts';
import type { CacheView } from './informer.ts';

const unchanged = (a: unknown, b: unknown) => a !== undefined && stableHash(a) === stableHash(b);

/**
 * The policy reconciler's Secrets. The informer caches their metadata only (see metadataOnly.ts),
 * so the data comes from what tokensmith applied itself while the cached resourceVersion still
 * matches it (nobody changed the Secret since), and from a read by exact name otherwise.
 */
export function secretPort(options: {
  kubeConfig: KubeConfig;
  limiter: RequestLimiter;
  applier: Applier;
  managedSecrets: CacheView<V1Secret>;
}): SecretPort & { forget(key: ObjectKey): void; isOwnWrite(secret: V1Secret): boolean } {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const written = new Map<string, V1Secret>();
  return {
    async get(key: ObjectKey) {
      const id = `${key.namespace}/${key.name}`;
      const cached = options.managedSecrets.get(id);
      const ours = written.get(id);
      if (cached && ours && cached.metadata?.resourceVersion === ours.metadata?.resourceVersion) return ours;
      if (!cached) written.delete(id);
      try {
        return await options.limiter.run(() => core.readNamespacedSecret(key));
      } catch (err) {
        if (kubeStatus(err) === 404) return undefined;
        throw kubeError(`reading Secret ${key.namespace}/${key.name}`, err);
      }
    },
    async apply(secret: V1Secret) {
      const applied = await options.applier.apply(secret);
      written.set(`${applied.metadata?.namespace ?? ''}/${applied.metadata?.name ?? ''}`, applied);
      return applied;
    },
    forget(key: ObjectKey) {
      written.delete(`${key.namespace}/${key.name}`);
    },
    /** Whether this state of the Secret is the one tokensmith applied last (its own write's event). */
    isOwnWrite(secret: V1Secret) {
      return isSameWrite(written, secret);
    },
  };
}

export function policyWriter(applier: Applier): PolicyWriter {
  return {
    async applyStatus(policy: TokenPolicy, status: TokenPolicyStatus) {
      if (unchanged(policy.status, status)) return;
      const name = policy.metadata?.name ?? '';
      const namespace = policy.metadata?.namespace ?? '';
      await applier.applyStatus(
        { group: GROUP, version: VERSION, plural: PLURAL.tokenPolicy, namespace, name },
        { apiVersion: API_VERSION, kind: 'TokenPolicy', metadata: { name, namespace }, status },
      );
    },
    async setFinalizer(policy: TokenPolicy, present: boolean) {
      await applier.apply({
        apiVersion: API_VERSION,
        kind: 'TokenPolicy',
        metadata: {
          name: policy.metadata?.name ?? '',
          namespace: policy.metadata?.namespace ?? '',
          finalizers: present ? [FINALIZER] : [],
        },
      });
    },
  };
}

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

/** Whether `object` is, by resourceVersion, the state tokensmith wrote itself last. */
function isSameWrite(written: ReadonlyMap<string, KubernetesObject>, object: KubernetesObject): boolean {
  const ours = written.get(`${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`);
  const version = object.metadata?.resourceVersion;
  return version !== undefined && ours?.metadata?.resourceVersion === version;
}

export function credentialSources(kubeConfig: KubeConfig, limiter: RequestLimiter): CredentialSources {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async secretValue(secret: ObjectKey, key: string) {
      try {
        const found = await limiter.run(() => core.readNamespacedSecret(secret));
        const value = found.data?.[key];
        return {
          value: value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8'),
          annotations: found.metadata?.annotations ?? {},
        };
      } catch (err) {
        if (kubeStatus(err) === 404) return undefined;
        throw kubeError(`reading Secret ${secret.namespace}/${secret.name}`, err);
      }
    },
    async serviceAccountToken(account: ObjectKey, audiences: string[]) {
      try {
        const request = await limiter.run(() =>
          core.createNamespacedServiceAccountToken({
            ...account,
            body: { spec: { audiences, expirationSeconds: 600 } },
          }),
        );
        return request.status?.token ?? '';
      } catch (err) {
        if (kubeStatus(err) === 403) {
          throw new TokensmithError(
            'CredentialsMissing',
            `tokensmith may not request a token for ServiceAccount ${account.namespace}/${account.name}: the ` +
              `namespace opts in with a Role granting create on serviceaccounts/token for resourceNames ` +
              `[${account.name}], bound to tokensmith's ServiceAccount`,
            { status: 403 },
          );
        }
        throw kubeError(`requesting a token for ServiceAccount ${account.namespace}/${account.name}`, err);
      }
    },
    readFile: (path: string) => readFile(path, 'utf8'),
  };
}
