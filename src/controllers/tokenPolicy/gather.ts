/**
 * The gatherer: reads what one planning round needs (the Vault record, the Secret) and turns it,
 * with the policy's annotations and the clock, into the plan's input. It only reads; what this
 * reconcile wrote itself is passed in (`known`) rather than read back, since the Secret cache may
 * not have seen tokensmith's own apply yet and a Vault read would only return what was written.
 */
import type { V1Secret } from '@kubernetes/client-node';
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { tokenHash } from '../../core/fingerprint.ts';
import { policyViolation } from '../../core/guardrails.ts';
import { activeVersion, type PlanInput } from '../../core/plan.ts';
import type { PolicyTokenRecord } from '../../core/records.ts';
import { pendingRequests, type Requests } from '../../core/requests.ts';
import {
  desiredSecretData,
  ownedByOther,
  secretInSync,
  tokenInSecret,
  type PolicyIdentity,
} from '../../core/secretData.ts';
import { shapeHash, type PolicySettings } from '../../core/settings.ts';
import { emptyRecord } from '../../core/transitions.ts';
import { TokensmithError } from '../../errors.ts';
import type { IssuerRef, IssuerResolver, ResolvedIssuer } from '../../issuers/resolved.ts';
import { policySettings } from './settings.ts';
import type { Versioned } from '../../ports.ts';
import type { SecretPort } from './ports.ts';

/** What this reconcile already knows: null means "not read yet", undefined "known absent". */
export interface Known {
  stored: Versioned<PolicyTokenRecord> | undefined | null;
  secret: V1Secret | undefined | null;
}

export const NOTHING_KNOWN: Known = { stored: null, secret: null };

/** One round's view of the world and the plan input made from it. */
export interface Gathered {
  stored: Versioned<PolicyTokenRecord> | undefined;
  record: PolicyTokenRecord | undefined;
  secret: V1Secret | undefined;
  /** What the Secret should hold for the active version; undefined without one. */
  desired: Record<string, string> | undefined;
  requests: Requests;
  input: PlanInput;
}

export async function gather(options: {
  policy: TokenPolicy;
  identity: PolicyIdentity;
  settings: PolicySettings;
  issuer: ResolvedIssuer;
  secrets: SecretPort;
  known: Known;
  now: Date;
  jitterMaxMs: number;
  mintBlocked: boolean;
}): Promise<Gathered> {
  const { policy, identity, settings, issuer, known, now } = options;
  const key = { namespace: identity.namespace, name: identity.name };
  const stored = known.stored === null ? await issuer.store.read(key) : known.stored;
  const record = adopt(stored?.value, identity, settings);
  const secret =
    known.secret === null
      ? await options.secrets.get({ namespace: identity.namespace, name: settings.secret.name })
      : known.secret;
  if (ownedByOther(secret, identity)) {
    throw new TokensmithError(
      'SecretNotOwned',
      `Secret ${settings.secret.name} already exists and is not managed by this TokenPolicy; delete it or choose another spec.secret.name`,
    );
  }
  const inSecret = tokenInSecret(secret, settings);
  const active = activeVersion(record);
  const desired = active ? desiredSecretData(settings, active, record, now) : undefined;
  const requests = pendingRequests({
    annotations: policy.metadata?.annotations,
    uid: identity.uid,
    createdAt: new Date(policy.metadata?.creationTimestamp ?? now),
    settings,
    record,
    now,
    jitterMaxMs: options.jitterMaxMs,
  });
  const input: PlanInput = {
    now,
    record,
    secretTokenHash: inSecret === undefined ? undefined : tokenHash(inSecret),
    secretInSync: desired !== undefined && secretInSync(secret, identity, settings, desired),
    ...(policy.status?.currentVersion === undefined ? {} : { reportedVersion: policy.status.currentVersion }),
    specHash: shapeHash(settings.shape),
    renewBeforeMs: settings.renewBeforeMs,
    overlapMs: settings.overlapMs,
    historyLimit: settings.historyLimit,
    requests: requests.pending,
    ...(requests.nextScheduledAt ? { nextScheduledAt: requests.nextScheduledAt } : {}),
    compromisedKids: issuer.compromisedKids,
    mintBlocked: options.mintBlocked,
    revokeOnSuspiciousUse: settings.onSuspiciousUse === 'revoke',
  };
  return { stored, record, secret, desired, requests, input };
}

/** A record from a previous policy of the same name (other uid) is retired, numbers continue. */
function adopt(
  record: PolicyTokenRecord | undefined,
  identity: PolicyIdentity,
  settings: PolicySettings,
): PolicyTokenRecord | undefined {
  if (!record || record.policy.uid === identity.uid) return record;
  return { ...emptyRecord(identity, settings.shape.issuer), lastVersion: record.lastVersion };
}

/**
 * Why no token may be minted for the policy now, if so: its issuer's reason (not Ready, namespace
 * not served) or the guardrail its spec violates. It blocks only minting (see core/plan.ts).
 */
export function mintBlockedBy(
  issuer: ResolvedIssuer,
  policy: { namespace: string; name: string },
  ttl: string,
  settings: PolicySettings,
): TokensmithError | undefined {
  if (issuer.mintBlockedBy) return issuer.mintBlockedBy;
  const violation = policyViolation(policy, ttl, settings, issuer.allowed);
  return violation
    ? new TokensmithError('GuardrailViolated', `${violation.message} (guardrail ${violation.guardrail})`)
    : undefined;
}

/**
 * How the token endpoint resolves a policy as its reconciler does: its settings, its issuer, and
 * why no token may be minted for it now (if so).
 */
export function policyIssuer(
  resolver: IssuerResolver,
  minRotationIntervalMs: number,
): (
  policy: TokenPolicy,
) => Promise<{ settings: PolicySettings; issuer: ResolvedIssuer; blocked?: TokensmithError }> {
  return async (policy) => {
    const key = { namespace: policy.metadata?.namespace ?? '', name: policy.metadata?.name ?? '' };
    const settings = policySettings(policy, { minRotationIntervalMs });
    const issuer = await resolver.resolve(settings.shape.issuer as IssuerRef, key);
    const blocked = mintBlockedBy(issuer, key, policy.spec.token.ttl, settings);
    return { settings, issuer, ...(blocked ? { blocked } : {}) };
  };
}
