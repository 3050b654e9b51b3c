/**
 * The issuer reconciler (TokenIssuer and ClusterTokenIssuer): makes sure the signing key exists
 * in Vault, publishes the public keys (JWKS) in a ConfigMap and in Vault, and reports Ready with
 * the key ids. Its policies are re-evaluated by the controller whenever the issuer changes.
 */
import { stableHash } from '../../core/fingerprint.ts';
import { LABEL, MANAGED_BY_VALUE } from '../../api/constants.ts';
import { isTokensmithError, safeErrorFields } from '../../errors.ts';
import {
  issuerKey,
  issuerResourceNamespace,
  jwksConfigMapName,
  type AnyIssuer,
} from '../../issuers/identity.ts';
import type { IssuerRuntimes } from '../../issuers/runtimes.ts';
import type { Logger } from '../../log.ts';
import { jwksOf } from '../../mint/jwt.ts';
import type { Clock, SigningKeyInfo } from '../../ports.ts';
import { KvV2 } from '../../vault/kv.ts';
import type { EventSink } from '../tokenPolicy/ports.ts';
import { issuerStatus } from './status.ts';
import type { TokenIssuerStatus } from '../../api/v1alpha1.generated.ts';

export const JWKS_KEY = 'jwks.json';

export interface IssuerWriter {
  /** Server-side apply of the JWKS ConfigMap; skipped by the caller when unchanged. */
  applyConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    labels: Record<string, string>,
  ): Promise<void>;
  /** The data of a ConfigMap from the cache, to skip no-op writes. */
  configMapData(namespace: string, name: string): Record<string, string> | undefined;
  applyStatus(issuer: AnyIssuer, status: TokenIssuerStatus): Promise<void>;
}

export interface IssuerReconcilerDeps {
  clock: Clock;
  log: Logger;
  clusterResourceNamespace: string;
  runtimes: IssuerRuntimes;
  writer: IssuerWriter;
  events: EventSink;
}

export class IssuerReconciler {
  private readonly deps: IssuerReconcilerDeps;

  constructor(deps: IssuerReconcilerDeps) {
    this.deps = deps;
  }

  async reconcile(issuer: AnyIssuer | undefined): Promise<void> {
    if (!issuer) return;
    if (issuer.metadata?.deletionTimestamp) {
      this.deps.runtimes.forget(issuer);
      return;
    }
    const log = this.deps.log.child({ issuer: issuerKey(issuer) });
    let keys: SigningKeyInfo[] | undefined;
    try {
      const published = await this.deps.runtimes.use(issuer, async (runtime) => {
        await runtime.keys.ensure();
        keys = await runtime.keys.list();
        const jwks = JSON.stringify(jwksOf(keys), null, 2);
        // The issuer's folder must be readable: a record read proves the Vault policy allows it.
        await runtime.store.read({ namespace: 'tokensmith-probe', name: 'tokensmith-probe' });
        await this.publishToVault(
          new KvV2({ client: runtime.client, mount: runtime.mount }),
          `${runtime.pathPrefix}/jwks`,
          jwks,
        );
        return { jwks, vaultPath: `${runtime.mount}/data/${runtime.pathPrefix}/jwks` };
      });
      const namespace = issuerResourceNamespace(issuer, this.deps.clusterResourceNamespace);
      const name = jwksConfigMapName(issuer);
      const data = { [JWKS_KEY]: published.jwks, issuer: issuer.spec.issuer };
      const current = this.deps.writer.configMapData(namespace, name);
      if (!current || stableHash(current) !== stableHash(data)) {
        await this.deps.writer.applyConfigMap(namespace, name, data, { [LABEL.managedBy]: MANAGED_BY_VALUE });
      }
      const active = keys?.at(-1);
      await this.writeStatus(
        issuer,
        keys,
        { configMap: { namespace, name, key: JWKS_KEY }, vaultPath: published.vaultPath },
        {
          ready: true,
          reason: 'KeyReady',
          message: `signing key ${active?.kid ?? '?'} (${issuer.spec.signing?.algorithm ?? 'EdDSA'}, ${issuer.spec.signing?.backend ?? 'transit'}) is active; JWKS published in ConfigMap ${namespace}/${name}`,
        },
      );
    } catch (err) {
      const safe = safeErrorFields(err);
      const reason = isTokensmithError(err) ? err.reason : 'Unexpected';
      log.warn({ err: safe }, 'issuer reconcile failed');
      this.deps.events.record(issuer, { type: 'Warning', reason, action: 'Reconcile', note: safe.message });
      await this.writeStatus(issuer, keys, undefined, { ready: false, reason, message: safe.message }).catch(
        (statusErr: unknown) => {
          log.warn({ err: safeErrorFields(statusErr) }, 'status write failed');
        },
      );
      throw err;
    }
  }

  private async publishToVault(kv: KvV2, path: string, jwks: string): Promise<void> {
    const existing = await kv.read(path);
    if (existing?.data.jwks === jwks) return;
    await kv.write(path, { jwks });
  }

  private async writeStatus(
    issuer: AnyIssuer,
    keys: SigningKeyInfo[] | undefined,
    jwks: TokenIssuerStatus['jwks'],
    outcome: { ready: boolean; reason: string; message: string },
  ): Promise<void> {
    const status = issuerStatus({
      previous: issuer.status,
      generation: issuer.metadata?.generation,
      now: this.deps.clock.now(),
      keys,
      jwks,
      outcome,
    });
    await this.deps.writer.applyStatus(issuer, status);
  }
}
