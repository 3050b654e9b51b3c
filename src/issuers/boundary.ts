/**
 * The tenant boundary of a namespaced TokenIssuer. Whoever may create a TokenIssuer in a namespace
 * must not reach beyond it through tokensmith: not receive tokensmith's own Vault credentials or
 * service-account token at a server of their choosing, and not point at another issuer's records
 * or signing key. ClusterTokenIssuers belong to the platform team and are not limited.
 */
import type { Config } from '../config.ts';
import type { AnyIssuer } from './identity.ts';

/** Why a TokenIssuer's spec crosses its namespace's boundary, or undefined when it does not. */
export function boundaryProblem(issuer: AnyIssuer, config: Pick<Config, 'vault'>): string | undefined {
  if (issuer.kind !== 'TokenIssuer') return undefined;
  const namespace = issuer.metadata?.namespace ?? '';
  const vault = issuer.spec.vault ?? {};
  const ownServer =
    vault.address !== undefined || vault.caBundle !== undefined || vault.tlsServerName !== undefined;
  if (ownServer && !vault.auth) {
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
  const prefixRoot = `${config.vault.pathPrefix}/${namespace}`;
  if (
    vault.pathPrefix !== undefined &&
    vault.pathPrefix !== prefixRoot &&
    !vault.pathPrefix.startsWith(`${prefixRoot}/`)
  ) {
    return `spec.vault.pathPrefix must be ${prefixRoot} or a folder below it for a TokenIssuer in namespace ${namespace}`;
  }
  const keyRoot = `tokensmith-${namespace}-`;
  const keyName = issuer.spec.signing?.keyName;
  if (keyName !== undefined && !keyName.startsWith(keyRoot)) {
    return `spec.signing.keyName must start with ${keyRoot} for a TokenIssuer in namespace ${namespace}`;
  }
  return undefined;
}
