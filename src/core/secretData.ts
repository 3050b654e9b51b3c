/**
 * What a policy's Secret should hold, and how what it holds compares: pure, so drift detection is
 * a comparison of what is with what should be. The Secret is seen through SecretView, the few
 * fields these decisions read (a V1Secret is one).
 */
import { LABEL, MANAGED_BY_VALUE } from '../api/constants.ts';
import { tokenHash } from './fingerprint.ts';
import type { PolicyTokenRecord, TokenVersionRecord } from './records.ts';
import type { PolicySettings } from './settings.ts';

export interface PolicyIdentity {
  namespace: string;
  name: string;
  uid: string;
}

/** The fields of a Secret the decisions read (base64 data, as the API returns it). */
export interface SecretView {
  data?: Record<string, string>;
  metadata?: {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { uid: string; controller?: boolean }[];
  };
}

/** The data (plain strings) the Secret must hold for `version`. */
export function desiredSecretData(
  settings: PolicySettings,
  version: TokenVersionRecord,
  record: PolicyTokenRecord | undefined,
  now: Date,
): Record<string, string> {
  const keys = settings.secret.keys;
  // Only live versions are delivered, and a live version keeps its token (only revoking erases it).
  const data: Record<string, string> = {
    [keys.token]: version.token ?? '',
    [keys.expiresAt]: version.expiresAt,
  };
  if (version.refreshToken !== undefined) data[keys.refreshToken] = version.refreshToken;
  if (keys.previous !== undefined) {
    // During the overlap the previous token is delivered too, so consumers can accept both. It
    // leaves the Secret when its overlap ends, before it is revoked (sync comes before revoke).
    const inOverlap = (v: TokenVersionRecord) =>
      Date.parse(v.retiringSince ?? '') + settings.overlapMs > now.getTime() &&
      Date.parse(v.expiresAt) > now.getTime();
    // Publishing a new version: the active one is about to retire, so it is the previous already
    // (one Secret write per rotation, not two).
    const previous = record?.versions
      .filter(
        (v) =>
          v.version !== version.version &&
          // A replacement after a compromise never delivers what it replaces.
          ((v.state === 'active' && version.onActivate === undefined) ||
            (v.state === 'retiring' && inOverlap(v) && version.onActivate !== 'revokeAll')),
      )
      .sort((a, b) => b.version - a.version)[0];
    if (previous?.token !== undefined) data[keys.previous] = previous.token;
  }
  return data;
}

/** The token the Secret holds under the policy's token key, decoded. */
export function tokenInSecret(secret: SecretView | undefined, settings: PolicySettings): string | undefined {
  const value = secret?.data?.[settings.secret.keys.token];
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

/** True when the Secret holds exactly `data` under tokensmith's keys, with our labels and owner. */
export function secretInSync(
  secret: SecretView | undefined,
  policy: PolicyIdentity,
  settings: PolicySettings,
  data: Record<string, string>,
): boolean {
  if (!secret) return false;
  const actual = secret.data ?? {};
  const ourKeys = new Set([...Object.values(settings.secret.keys), ...Object.keys(data)]);
  for (const key of ourKeys) {
    const want = data[key];
    const have = actual[key] === undefined ? undefined : Buffer.from(actual[key], 'base64').toString('utf8');
    if (want !== have) return false;
  }
  const labels = secret.metadata?.labels ?? {};
  if (labels[LABEL.managedBy] !== MANAGED_BY_VALUE || labels[LABEL.policy] !== policy.name) return false;
  for (const [k, v] of Object.entries(settings.secret.labels)) if (labels[k] !== v) return false;
  const annotations = secret.metadata?.annotations ?? {};
  for (const [k, v] of Object.entries(settings.secret.annotations)) if (annotations[k] !== v) return false;
  return (secret.metadata?.ownerReferences ?? []).some((o) => o.uid === policy.uid && o.controller === true);
}

/**
 * Why a Secret is not in sync with `data`: `overlapEnded` when the only difference is the previous
 * token of an overlap that is over (tokensmith removes it itself; no one changed the Secret),
 * otherwise `drift`.
 */
export function secretChange(
  secret: SecretView | undefined,
  policy: PolicyIdentity,
  settings: PolicySettings,
  data: Record<string, string>,
  record: PolicyTokenRecord | undefined,
): 'overlapEnded' | 'drift' {
  const previousKey = settings.secret.keys.previous;
  const held = previousKey === undefined ? undefined : secret?.data?.[previousKey];
  if (previousKey === undefined || held === undefined || data[previousKey] !== undefined) return 'drift';
  const previous = Buffer.from(held, 'base64').toString('utf8');
  const ended = record?.versions.some(
    (v) => v.tokenHash === tokenHash(previous) && (v.state === 'retiring' || v.state === 'revoked'),
  );
  return ended && secretInSync(secret, policy, settings, { ...data, [previousKey]: previous })
    ? 'overlapEnded'
    : 'drift';
}

/** A Secret by that name exists but another controller (or a person) owns it. */
export function ownedByOther(secret: SecretView | undefined, policy: PolicyIdentity): boolean {
  if (!secret) return false;
  const controller = secret.metadata?.ownerReferences?.find((o) => o.controller === true);
  if (controller) return controller.uid !== policy.uid;
  // No controller: ours only if it carries our label for this policy (e.g. an orphan we left).
  const labels = secret.metadata?.labels ?? {};
  return !(labels[LABEL.managedBy] === MANAGED_BY_VALUE && labels[LABEL.policy] === policy.name);
}
