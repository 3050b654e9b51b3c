/** What a policy's reconciler needs of its issuer, resolved from the issuer object and Vault. */
import type { GuardrailInput } from '../core/guardrails.ts';
import type { TokensmithError } from '../errors.ts';
import type { ObjectKey, TokenStore } from '../ports.ts';

export interface IssuerRef {
  kind: 'TokenIssuer' | 'ClusterTokenIssuer';
  name: string;
}

/** A ready issuer: where its policies' records live and how it signs. */
export interface ResolvedIssuer {
  ref: IssuerRef;
  uid: string;
  /** The `iss` claim. */
  issuerUrl: string;
  /** The issuer's guardrails (see GuardrailInput.allowed). */
  allowed: GuardrailInput['allowed'];
  store: TokenStore;
  /**
   * Kids of signing keys a leaked-key request compromised (from the issuer's status): they no
   * longer verify, so tokens they signed are replaced or revoked at once.
   */
  compromisedKids: ReadonlySet<string>;
  /** Signs JWT claims with the issuer's active key. */
  signJwt(claims: Record<string, unknown>): Promise<{ token: string; kid: string }>;
  /**
   * Why no token may be minted through this issuer now (IssuerNotReady, NamespaceNotAllowed), if
   * so. Its store still serves every step that mints nothing: revocation never waits for minting.
   */
  mintBlockedBy?: TokensmithError;
}

/**
 * Finds a policy's issuer. Throws TokensmithError IssuerNotFound (no such object) or the error of
 * building its Vault connection; an issuer that exists but may not mint now is resolved with
 * `mintBlockedBy` (see ResolvedIssuer).
 */
export interface IssuerResolver {
  resolve(ref: IssuerRef, policy: ObjectKey): Promise<ResolvedIssuer>;
}
