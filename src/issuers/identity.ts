/** Naming of an issuer's things: its key for caches and logs, Vault paths and key names. */
import type { ClusterTokenIssuer, TokenIssuer } from '../api/v1alpha1.generated.ts';

export type AnyIssuer = TokenIssuer | ClusterTokenIssuer;

/** `TokenIssuer/ns/name` or `ClusterTokenIssuer/name`. */
export function issuerKey(issuer: AnyIssuer): string {
  const name = issuer.metadata?.name ?? '';
  return issuer.kind === 'TokenIssuer'
    ? `TokenIssuer/${issuer.metadata?.namespace ?? ''}/${name}`
    : `ClusterTokenIssuer/${name}`;
}

/** The namespace whose Secrets and ConfigMaps belong to the issuer. */
export function issuerResourceNamespace(issuer: AnyIssuer, clusterResourceNamespace: string): string {
  return issuer.kind === 'TokenIssuer' ? (issuer.metadata?.namespace ?? '') : clusterResourceNamespace;
}

/** Default Vault folder: `<prefix>/<namespace>/<name>` for TokenIssuers, `<prefix>/<name>` for cluster ones. */
export function defaultPathPrefix(issuer: AnyIssuer, operatorPrefix: string): string {
  const name = issuer.metadata?.name ?? '';
  return issuer.kind === 'TokenIssuer'
    ? `${operatorPrefix}/${issuer.metadata?.namespace ?? ''}/${name}`
    : `${operatorPrefix}/${name}`;
}

/** Default signing key name: `tokensmith-<namespace>-<name>` or `tokensmith-<name>`. */
export function defaultKeyName(issuer: AnyIssuer): string {
  const name = issuer.metadata?.name ?? '';
  return issuer.kind === 'TokenIssuer'
    ? `tokensmith-${issuer.metadata?.namespace ?? ''}-${name}`
    : `tokensmith-${name}`;
}

/** Name of the ConfigMap that publishes the issuer's JWKS. */
export function jwksConfigMapName(issuer: AnyIssuer): string {
  return issuer.kind === 'TokenIssuer'
    ? `${issuer.metadata?.name ?? ''}-jwks`
    : `clustertokenissuer-${issuer.metadata?.name ?? ''}-jwks`;
}
