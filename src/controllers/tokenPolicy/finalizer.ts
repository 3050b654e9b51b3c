/**
 * Deletion of a policy: every version is revoked in Vault (and leaves the lookup index) before the
 * finalizer lets the policy, and with it the Secret, go. It runs whatever state minting is in: an
 * issuer that is not Ready still revokes through its store; only an issuer that no longer exists
 * lets the policy go without revoking, since nothing can be revoked through it.
 */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import type { PolicyIdentity } from '../../core/secretData.ts';
import { withAllRevoked } from '../../core/transitions.ts';
import { FINALIZER } from '../../api/constants.ts';
import { TokensmithError, describeFailure, isTokensmithError } from '../../errors.ts';
import type { IssuerResolver, ResolvedIssuer } from '../../issuers/resolved.ts';
import type { Logger } from '../../log.ts';
import type { Clock } from '../../ports.ts';
import type { EventSink, PolicyWriter } from './ports.ts';
import type { PolicyReporter } from './report.ts';
import { dropFromIndex, indexKeys } from './steps.ts';
import type { Metrics } from '../../metrics/metrics.ts';

/** Tries before a record that keeps changing underneath is left to the next retry. */
const ATTEMPTS = 5;

export interface FinalizerDeps {
  clock: Clock;
  issuers: IssuerResolver;
  writer: PolicyWriter;
  events: EventSink;
  report: PolicyReporter;
  metrics?: Pick<Metrics, 'revocations'>;
}

/**
 * Finalizes a policy being deleted (nothing to do without tokensmith's finalizer); while it
 * cannot revoke yet, the status says so (Deleting=True with the reason) and it is retried.
 */
export async function finalizePolicy(
  deps: FinalizerDeps,
  policy: TokenPolicy,
  identity: PolicyIdentity,
  log: Logger,
): Promise<void> {
  if (!(policy.metadata?.finalizers ?? []).includes(FINALIZER)) return;
  try {
    await revokeAndRelease(deps, policy, identity, log);
  } catch (err) {
    const { reason, message } = describeFailure(err);
    await deps.report.deleting(policy, { reason, message: `revoking before deletion: ${message}` }, log);
    throw err;
  }
}

async function revokeAndRelease(
  deps: FinalizerDeps,
  policy: TokenPolicy,
  identity: PolicyIdentity,
  log: Logger,
): Promise<void> {
  const ref = { kind: policy.spec.issuerRef.kind ?? 'ClusterTokenIssuer', name: policy.spec.issuerRef.name };
  const key = { namespace: identity.namespace, name: identity.name };
  let issuer: ResolvedIssuer | undefined;
  try {
    issuer = await deps.issuers.resolve(ref, key);
  } catch (err) {
    // With its issuer gone there is nothing tokensmith can revoke through; do not block deletion forever.
    if (!isTokensmithError(err, 'IssuerNotFound')) throw err;
    log.warn({ issuer: ref.name }, 'issuer gone; deleting the policy without revoking its tokens');
  }
  let revoked = issuer === undefined;
  for (let attempt = 0; issuer && attempt < ATTEMPTS; attempt++) {
    const stored = await issuer.store.read(key);
    if (!stored || stored.value.policy.uid !== identity.uid) {
      revoked = true;
      break;
    }
    try {
      const all = withAllRevoked(stored.value, deps.clock.now(), 'PolicyDeleted');
      await issuer.store.write(key, all, stored.casVersion);
      // Every version leaves the index now, the ones revoked before too (they stay until pruned).
      await dropFromIndex(issuer, stored.value.versions.flatMap(indexKeys));
      const count = stored.value.versions.filter((v) => v.state !== 'revoked').length;
      if (count > 0) deps.metrics?.revocations.inc({ reason: 'PolicyDeleted' }, count);
      deps.events.record(policy, {
        type: 'Normal',
        reason: 'Revoked',
        action: 'Delete',
        note: `revoked ${count} token version(s) before deletion`,
      });
      revoked = true;
      break;
    } catch (err) {
      if (!isTokensmithError(err, 'VaultConflict')) throw err;
    }
  }
  // Never let the policy go while its tokens may still be valid: retry with backoff instead.
  if (!revoked) {
    throw new TokensmithError(
      'VaultConflict',
      'could not revoke the tokens before deletion (the record kept changing); will retry',
    );
  }
  await deps.writer.setFinalizer(policy, false);
}
