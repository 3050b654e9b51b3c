/** The policy reconciler's Secrets (SecretPort): cache first, the API for a Secret not ours yet. */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { SecretPort } from '../controllers/tokenPolicy/ports.ts';
import type { ObjectKey, RequestLimiter } from '../ports.ts';
import { kubeError, kubeStatus } from './apiErrors.ts';
import type { Applier } from './apply.ts';
import type { CacheView } from './informer.ts';
import { isSameWrite, WritesInFlight } from './ownWrites.ts';

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
}): SecretPort & {
  forget(key: ObjectKey): void;
  isOwnWrite(secret: V1Secret): boolean;
  settled(key: ObjectKey): Promise<void>;
} {
  const core = options.kubeConfig.makeApiClient(CoreV1Api);
  const written = new Map<string, V1Secret>();
  const inFlight = new WritesInFlight();
  return {
    async get(key: ObjectKey) {
      const id = `${key.namespace}/${key.name}`;
      const cached = options.managedSecrets.get(id);
      const ours = written.get(id);
      // Ours while the cache agrees, or has not seen our write yet: a Secret deleted (or unlabelled)
      // since leaves the cache, and that event forgets our write (forget below).
      if (ours && (!cached || cached.metadata?.resourceVersion === ours.metadata?.resourceVersion))
        return ours;
      try {
        return await options.limiter.run(() => core.readNamespacedSecret(key));
      } catch (err) {
        if (kubeStatus(err) === 404) return undefined;
        throw kubeError(`reading Secret ${key.namespace}/${key.name}`, err);
      }
    },
    apply(secret: V1Secret) {
      const id = `${secret.metadata?.namespace ?? ''}/${secret.metadata?.name ?? ''}`;
      return inFlight.track(
        id,
        options.applier.apply(secret).then((applied) => {
          written.set(id, kept(applied));
          return applied;
        }),
      );
    },
    /** Resolves once tokensmith's writes of this Secret in flight now have settled. */
    settled(key: ObjectKey) {
      return inFlight.settled(`${key.namespace}/${key.name}`);
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

/** What is kept of a Secret tokensmith wrote: what the reconciler compares, not managedFields. */
function kept(secret: V1Secret): V1Secret {
  const m = secret.metadata ?? {};
  return {
    ...(secret.type === undefined ? {} : { type: secret.type }),
    ...(secret.data === undefined ? {} : { data: secret.data }),
    metadata: {
      ...(m.name === undefined ? {} : { name: m.name }),
      ...(m.namespace === undefined ? {} : { namespace: m.namespace }),
      ...(m.uid === undefined ? {} : { uid: m.uid }),
      ...(m.resourceVersion === undefined ? {} : { resourceVersion: m.resourceVersion }),
      ...(m.labels === undefined ? {} : { labels: m.labels }),
      ...(m.annotations === undefined ? {} : { annotations: m.annotations }),
      ...(m.ownerReferences === undefined ? {} : { ownerReferences: m.ownerReferences }),
    },
  };
}
