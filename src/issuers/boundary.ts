/**
 * The tenant boundary of a namespaced TokenIssuer. Whoever may create a TokenIssuer in a namespace
 * must not reach beyond it through tokensmith: not receive tokensmith's own Vault credentials or
 * service-account token at a server of their choosing, and not point at another issuer's records
 * or signing key — with tokensmith's credentials it cannot choose a location at all (its default
 * ones are disjoint from every other issuer's); with credentials of its own, Vault's policy for
 * those credentials is the boundary. ClusterTokenIssuers belong to the platform team and are not
 * limited.
 */
import type { Config } from '../config.ts';
import { defaultKeyName, defaultPathPrefix, type AnyIssuer } from './identity.ts';

/** Whether the issuer sends its credentials to a Vault server of its own choosing. */
export function namesOwnServer(issuer: AnyIssuer): boolean {
  const vault = issuer.spec.vault ?? {};
  return vault.address !== undefined || vault.caBundle !== undefined || vault.tlsServerName !== undefined;
}

/** Why a TokenIssuer's spec crosses its namespace's boundary, or undefined when it does not. */
export function boundaryProblem(issuer: AnyIssuer, config: Pick<Config, 'vault'>): string | undefined {
  if (issuer.kind !== 'TokenIssuer') return undefined;
  const vault = issuer.spec.vault ?? {};
  if (namesOwnServer(issuer) && !vault.auth) {
    return (
      'a TokenIssuer that sets spec.vault.address, caBundle or tlsServerName must also set spec.vault.auth ' +
      "with its own credentials: tokensmith never sends its own Vault credentials to a namespace's server"
    );
  }
  if (vault.auth?.kubernetes && !vault.auth.kubernetes.serviceAccountRef) {
    return (
      'a TokenIssuer with Kubernetes auth must name spec.vault.auth.kubernetes.serviceAccountRef (a service ' +
      'account of its namespace): tokensmith never presents its own service-account token for a namespace'
    );
  }
  if (!vault.auth) {
    const chosen = [
      vault.mount !== undefined && 'spec.vault.mount',
      vault.pathPrefix !== undefined && 'spec.vault.pathPrefix',
      issuer.spec.signing?.transitMount !== undefined && 'spec.signing.transitMount',
      issuer.spec.signing?.keyName !== undefined && 'spec.signing.keyName',
    ].filter((field): field is string => field !== false);
    if (chosen.length > 0) {
      return (
        `a TokenIssuer that uses tokensmith's own Vault credentials cannot choose ${chosen.join(', ')}: ` +
        `tokensmith keeps its records under ${defaultPathPrefix(issuer, config.vault.pathPrefix)} and its key ` +
        `as ${defaultKeyName(issuer)}, where no other issuer can reach; remove ${chosen.length > 1 ? 'them' : 'it'}, ` +
        'or set spec.vault.auth with credentials of your own'
      );
    }
  }
  return undefined;
}
