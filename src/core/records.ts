/**
 * What tokensmith keeps in Vault about a policy's tokens. One KV v2 entry per policy holds every
 * kept version (bounded by historyLimit), so a state change is one check-and-set write: two
 * writers can never interleave. Token material lives only here and in the target Secret.
 */

/** The life of one token version. pending: recorded, not yet published to the Secret. */
export type TokenVersionState = 'pending' | 'active' | 'retiring' | 'revoked';

/** One minted token (and its refresh token) as recorded in Vault. */
export interface TokenVersionRecord {
  version: number;
  state: TokenVersionState;
  type: 'opaque' | 'jwt';
  /** Secret: the token itself; erased when the version is revoked (hash and fingerprint stay). */
  token?: string;
  /** Full sha256 hex of the token: the key of the lookup index. */
  tokenHash: string;
  /** `sha256:` + the first 12 hex digits of tokenHash: safe to show anywhere. */
  fingerprint: string;
  /** Secret: the refresh token, when the policy asks for one; erased when revoked. */
  refreshToken?: string;
  refreshTokenHash?: string;
  refreshExpiresAt?: string;
  scopes: string[];
  audience?: string[];
  subject?: string;
  /** JWT ID, for JWTs. */
  jti?: string;
  /** Signing key id, for JWTs. */
  kid?: string;
  /** Hash of the spec fields that shape a token: a change means the token must be re-minted. */
  specHash: string;
  issuedAt: string;
  expiresAt: string;
  publishedAt?: string;
  /** What activating this version does to the older ones: revoke at once (a compromise). */
  onActivate?: 'revokeCurrent' | 'revokeAll';
  /** Why this version was minted (Initial, Renewal, Scheduled, Requested, Compromised, KeyCompromised…). */
  mintReason?: string;
  retiringSince?: string;
  revokedAt?: string;
  revokeReason?: string;
  /**
   * What redeeming this version's refresh token produced (core/grants.ts): hashes only, never a
   * token. Every token of the grant lives and dies with this version.
   */
  grant?: Grant;
}

/** An access token the token endpoint issued for a grant (its hash, never the token). */
export interface GrantToken {
  hash: string;
  fingerprint: string;
  type: 'opaque' | 'jwt';
  scopes: string[];
  issuedAt: string;
  expiresAt: string;
  jti?: string;
  kid?: string;
  /** The refresh token generation it was issued with (see GrantRefresh). */
  generation: number;
  revokedAt?: string;
}

/**
 * One refresh token of a grant. Generation 0 is the version's own (in the Secret); each exchange
 * spends the one presented and issues the next generation, whose `parent` it was.
 */
export interface GrantRefresh {
  hash: string;
  fingerprint: string;
  generation: number;
  parent?: number;
  issuedAt: string;
  /** When it was redeemed, and by whom (a caller's username). */
  spentAt?: string;
  spentBy?: string;
  /** Redeemed a second time within the retry grace (its first answer was lost). */
  retried?: true;
  /** Replaced by such a retry: it never reached its caller. */
  revokedAt?: string;
}

/** The refresh-token grant of one token version. */
export interface Grant {
  /** Exchanges made, ever (the next generation number is this plus one). */
  exchanges: number;
  /** The newest access tokens issued (bounded, GRANT_TOKENS_KEPT). */
  tokens: GrantToken[];
  /** The newest refresh tokens (bounded, GRANT_REFRESH_KEPT): the live one and the spent ones. */
  refresh: GrantRefresh[];
  /** The whole grant revoked: a spent refresh token was presented again. */
  revokedAt?: string;
  revokeReason?: 'RefreshTokenReplayed';
  /** Who presented the spent token, and its fingerprint. */
  replay?: { by: string; fingerprint: string };
}

/** The Vault entry for one policy. */
export interface PolicyTokenRecord {
  policy: { namespace: string; name: string; uid: string };
  issuer: { kind: string; name: string };
  /** The version published to the Secret; 0 before the first. */
  currentVersion: number;
  /** The highest version ever minted, so numbers are never reused. */
  lastVersion: number;
  versions: TokenVersionRecord[];
  /**
   * Requests already acted on, written in the same check-and-set as the action, so a request is
   * acted on exactly once even across crashes: the last schedule fire time, and the values of the
   * rotate and revoke annotations.
   */
  handled?: HandledRequests;
}

export interface HandledRequests {
  /** ISO time of the last schedule fire time acted on. */
  schedule?: string;
  rotate?: string;
  revoke?: string;
}

/**
 * Where a token hash points: the policy and version it belongs to, and which of the version's
 * tokens it is — its own (`token`, `refreshToken`) or one its grant issued (`grantToken`,
 * `grantRefreshToken`).
 */
export interface TokenIndexEntry {
  namespace: string;
  name: string;
  version: number;
  kind: TokenIndexKind;
}

export type TokenIndexKind = 'token' | 'refreshToken' | 'grantToken' | 'grantRefreshToken';
