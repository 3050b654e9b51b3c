/**
 * The issuer reconciler (TokenIssuer and ClusterTokenIssuer): runs the signing key's lifecycle
 * (keyLifecycle.ts: create, rotate on schedule or on request, retire after verifyFor — or at once
 * when the key leaked, with a KeyCompromised Event), publishes the public keys (JWKS) in a
 * ConfigMap and in Vault, reports Ready with the keys, their states and the compromised kids, and
 * asks to be run again when the next rotation or retirement is due. Its policies are re-evaluated
 * by the controller whenever the issuer changes (and re-mint what a compromised kid signed).
 */
import { stableHash } from '../../core/fingerprint.ts';
import { formatDuration } from '../../core/duration.ts';
import { ANNOTATION, LABEL, MANAGED_BY_VALUE } from '../../api/constants.ts';
import { describeFailure, safeErrorFields } from '../../errors.ts';
import {
  issuerKey,
  issuerResourceNamespace,
  jwksConfigMapName,
  type AnyIssuer,
} from '../../issuers/identity.ts';
import type { Logger } from '../../log.ts';
import { jwksOf } from '../../mint/jwt.ts';
import type { Clock } from '../../ports.ts';
import { verificationUrls } from '../../verify/routes.ts';
import type { EventSink, IssuerVaults, IssuerWriter } from './ports.ts';
import {
  rotationSettings,
  runKeyLifecycle,
  type KeyLifecycleResult,
  type RotationSettings,
} from './keyLifecycle.ts';
import { issuerStatus, type IssuerKeysView } from './status.ts';
import type { TokenIssuerStatus } from '../../api/v1alpha1.generated.ts';

export const JWKS_KEY = 'jwks.json';

export interface IssuerReconcilerDeps {
  clock: Clock;
  log: Logger;
  clusterResourceNamespace: string;
  vaults: IssuerVaults;
  writer: IssuerWriter;
  /** Whether the verification server runs (its URLs then go into the status). */
  verificationServed?: boolean;
  events: EventSink;
}

/** What a successful reconcile asks of the work queue. */
export interface IssuerReconcileResult {
  /** Run again after this long: when the next key rotation or retirement is due. */
  requeueAfterMs?: number;
}

export class IssuerReconciler {
  private readonly deps: IssuerReconcilerDeps;

  constructor(deps: IssuerReconcilerDeps) {
    this.deps = deps;
  }

  /** Reconciles one issuer. Throws to ask for a retry (none for a terminal error). */
  async reconcile(issuer: AnyIssuer | undefined): Promise<IssuerReconcileResult> {
    if (!issuer) return {};
    if (issuer.metadata?.deletionTimestamp) {
      this.deps.vaults.forget(issuer);
      return {};
    }
    const log = this.deps.log.child({ issuer: issuerKey(issuer) });
    let view: IssuerKeysView | undefined;
    try {
      // A second line behind the CRD's CEL rules: verifyFor must cover allowed.maxTtl.
      const settings = rotationSettings(issuer);
      const published = await this.deps.vaults.use(issuer, async (vault) => {
        const lifecycle = await runKeyLifecycle({
          keys: vault.keys,
          keyState: vault.keyState,
          settings,
          now: () => this.deps.clock.now(),
          requested: issuer.metadata?.annotations?.[ANNOTATION.rotateKey],
          handledInStatus: issuer.status?.handledRequests?.rotateKey,
          onRotated: (rotated) => {
            this.keyRotated(issuer, rotated, settings, log);
          },
          onRetired: (retired) => {
            this.keyRetired(issuer, retired, settings.verifyForMs, log);
          },
        });
        view = {
          keys: lifecycle.keys,
          states: lifecycle.decision.keys,
          retired: lifecycle.retired,
          nextKeyRotationAt: lifecycle.decision.nextRotationAt,
          handledRotateKey: lifecycle.handledRotateKey,
          compromised: lifecycle.compromised,
        };
        const jwks = JSON.stringify(jwksOf(lifecycle.keys), null, 2);
        // The issuer's folder must be readable with its credentials.
        await vault.checkAccess();
        return {
          jwks,
          vaultPath: await vault.publishJwks(jwks),
          nextDueAt: lifecycle.decision.nextDueAt,
        };
      });
      const namespace = issuerResourceNamespace(issuer, this.deps.clusterResourceNamespace);
      const name = jwksConfigMapName(issuer);
      const data = { [JWKS_KEY]: published.jwks, issuer: issuer.spec.issuer };
      const current = this.deps.writer.configMapData(namespace, name);
      if (!current || stableHash(current) !== stableHash(data)) {
        await this.deps.writer.applyConfigMap(
          namespace,
          name,
          data,
          { [LABEL.managedBy]: MANAGED_BY_VALUE },
          issuer,
        );
      }
      const activeVersion = view?.states.find((k) => k.state === 'active')?.version;
      const active = view?.keys.find((k) => k.version === activeVersion);
      await this.writeStatus(
        issuer,
        view,
        { configMap: { namespace, name, key: JWKS_KEY }, vaultPath: published.vaultPath },
        {
          ready: true,
          reason: 'KeyReady',
          message: `signing key ${active?.kid ?? '?'} (${issuer.spec.signing?.algorithm ?? 'EdDSA'}, ${issuer.spec.signing?.backend ?? 'transit'}) is active; JWKS published in ConfigMap ${namespace}/${name}`,
        },
      );
      return published.nextDueAt
        ? { requeueAfterMs: Math.max(0, published.nextDueAt.getTime() - this.deps.clock.now().getTime()) }
        : {};
    } catch (err) {
      const { reason, message } = describeFailure(err);
      log.warn({ err: safeErrorFields(err) }, 'issuer reconcile failed');
      this.deps.events.record(issuer, { type: 'Warning', reason, action: 'Reconcile', note: message });
      await this.writeStatus(issuer, view, undefined, { ready: false, reason, message }).catch(
        (statusErr: unknown) => {
          log.warn({ err: safeErrorFields(statusErr) }, 'status write failed');
        },
      );
      throw err;
    }
  }

  private keyRotated(
    issuer: AnyIssuer,
    rotated: NonNullable<KeyLifecycleResult['rotated']>,
    settings: RotationSettings,
    log: Logger,
  ): void {
    const { from, to, reason, resumed } = rotated;
    const verifyFor = formatDuration(settings.verifyForMs);
    log.info(
      { kid: to.kid, version: to.version, previousKid: from.kid, reason, resumed },
      'signing key rotated',
    );
    const ahead = reason !== 'Compromised' && settings.publishAheadMs > 0;
    const starts = ahead
      ? `is in the JWKS now and signs in ${formatDuration(settings.publishAheadMs)} (publishAhead)`
      : 'signs from now on';
    const previous =
      reason === 'Compromised'
        ? `kid ${from.kid} is compromised and leaves the JWKS at once`
        : ahead
          ? `kid ${from.kid} signs until then and stays in the JWKS for ${verifyFor} after`
          : `kid ${from.kid} stays in the JWKS for ${verifyFor}`;
    this.deps.events.record(issuer, {
      type: 'Normal',
      reason: 'KeyRotated',
      action: 'RotateKey',
      note: `signing key rotated (${reason}${resumed ? ', resumed after an interrupted attempt' : ''}): kid ${to.kid} (version ${to.version}) ${starts}; ${previous}`,
    });
  }

  private keyRetired(
    issuer: AnyIssuer,
    retired: KeyLifecycleResult['retired'],
    verifyForMs: number,
    log: Logger,
  ): void {
    for (const { key, compromised } of retired) {
      log.info({ kid: key.kid, version: key.version, compromised }, 'signing key retired');
      if (compromised) {
        this.deps.events.record(issuer, {
          type: 'Warning',
          reason: 'KeyCompromised',
          action: 'RetireKey',
          note: `signing key kid ${key.kid} (version ${key.version}) is compromised (${ANNOTATION.rotateKey}=leaked): retired at once, it left the JWKS; every token it signed is re-minted by its policy`,
        });
        continue;
      }
      this.deps.events.record(issuer, {
        type: 'Normal',
        reason: 'KeyRetired',
        action: 'RetireKey',
        note: `signing key kid ${key.kid} (version ${key.version}) retired: ${formatDuration(verifyForMs)} after it stopped signing, it left the JWKS`,
      });
    }
  }

  private async writeStatus(
    issuer: AnyIssuer,
    view: IssuerKeysView | undefined,
    jwks: TokenIssuerStatus['jwks'],
    outcome: { ready: boolean; reason: string; message: string },
  ): Promise<void> {
    const status = issuerStatus({
      previous: issuer.status,
      generation: issuer.metadata?.generation,
      now: this.deps.clock.now(),
      view,
      jwks,
      ...(this.deps.verificationServed ? { verification: verificationUrls(issuer) } : {}),
      outcome,
    });
    await this.deps.writer.applyStatus(issuer, status);
  }
}
