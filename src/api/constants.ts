/** Names of the tokensmith.dev API: group, version, kinds, labels, annotations, finalizer. */

export const GROUP = 'tokensmith.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const KIND = {
  tokenPolicy: 'TokenPolicy',
  tokenIssuer: 'TokenIssuer',
  clusterTokenIssuer: 'ClusterTokenIssuer',
} as const;

export const PLURAL = {
  tokenPolicy: 'tokenpolicies',
  tokenIssuer: 'tokenissuers',
  clusterTokenIssuer: 'clustertokenissuers',
} as const;

/** Labels tokensmith puts on what it manages; Secrets are watched by the first one only. */
export const LABEL = {
  managedBy: 'app.kubernetes.io/managed-by',
  policy: 'tokensmith.dev/policy',
} as const;
export const MANAGED_BY_VALUE = 'tokensmith';
export const MANAGED_SELECTOR = `${LABEL.managedBy}=${MANAGED_BY_VALUE}`;

/** Annotations a person sets with kubectl to ask for something now. */
export const ANNOTATION = {
  /** Any new value asks for a rotation (e.g. `$(date +%s)`). */
  rotate: 'tokensmith.dev/rotate',
  /** `current`, `previous` or `all`: revoke at once, after a replacement is published. */
  revoke: 'tokensmith.dev/revoke',
  /**
   * Any new value rotates an issuer's signing key; `leaked[:anything]` reports it leaked: the old
   * key leaves the JWKS at once and every token it signed is re-minted.
   */
  rotateKey: 'tokensmith.dev/rotate-key',
  /**
   * Set by tokensmith's token endpoint when it revoked tokens of a grant (`<version>@<time>`): a
   * replayed refresh token, or the pair of an answer that was lost. Every replica drops what it
   * cached about the policy's tokens, and the controller acts on spec.onSuspiciousUse.
   */
  grantRevoked: 'tokensmith.dev/grant-revoked',
  /** On a restarted workload's pod template: when tokensmith asked for the restart. */
  restartedAt: 'tokensmith.dev/restartedAt',
} as const;

/** Held by every TokenPolicy so its tokens are revoked in Vault before it is deleted. */
export const FINALIZER = 'tokensmith.dev/revoke-tokens';

/** The one field manager for every server-side apply tokensmith makes. */
export const FIELD_MANAGER = 'tokensmith';
