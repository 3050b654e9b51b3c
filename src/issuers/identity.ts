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

/**
 * The issuer's own root in the KV mount: `<prefix>/namespaces/<namespace>/<name>` for a
 * TokenIssuer, `<prefix>/cluster/<name>` for a ClusterTokenIssuer. Kubernetes names cannot hold a
 * `/`, so no (namespace, name) pair and no cluster issuer name reaches another's root.
 */
export function defaultPathPrefix(issuer: AnyIssuer, operatorPrefix: string): string {
  const name = issuer.metadata?.name ?? '';
  return issuer.kind === 'TokenIssuer'
    ? `${operatorPrefix}/namespaces/${issuer.metadata?.namespace ?? ''}/${name}`
    : `${operatorPrefix}/cluster/${name}`;
}

/**
 * Separates the parts of a default transit key name. Kubernetes namespace and object names cannot
 * contain it (they are DNS labels and subdomains), Vault key names can, so two different issuers
 * never get the same default key: (team, b-x) → `tokensmith_ns_team_b-x`, (team-b, x) →
 * `tokensmith_ns_team-b_x`.
 */
export const KEY_NAME_SEPARATOR = '_';

/** Default transit key: `tokensmith_ns_<namespace>_<name>` or `tokensmith_cluster_<name>`. */
export function defaultKeyName(issuer: AnyIssuer): string {
  const name = issuer.metadata?.name ?? '';
  const parts =
    issuer.kind === 'TokenIssuer'
      ? ['tokensmith', 'ns', issuer.metadata?.namespace ?? '', name]
      : ['tokensmith', 'cluster', name];
  return parts.join(KEY_NAME_SEPARATOR);
}

/** Name of the ConfigMap that publishes the issuer's JWKS. */
export function jwksConfigMapName(issuer: AnyIssuer): string {
  return issuer.kind === 'TokenIssuer'
    ? `${issuer.metadata?.name ?? ''}-jwks`
    : `clustertokenissuer-${issuer.metadata?.name ?? ''}-jwks`;
}
