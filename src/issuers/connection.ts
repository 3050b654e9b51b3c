/**
 * Builds an issuer's Vault connection: its own `spec.vault` where set, the operator's defaults
 * otherwise; credentials from Secrets in the issuer's namespace (the cluster resource namespace for
 * ClusterTokenIssuers), Kubernetes auth with a TokenRequest for `serviceAccountRef` or the
 * operator's own service-account token.
 */
import type { Config } from '../config.ts';
import { TokensmithError } from '../errors.ts';
import type { ObjectKey } from '../ports.ts';
import type { VaultAuth } from '../vault/auth.ts';
import type { VaultConnection } from '../vault/client.ts';
import { boundaryProblem, namesOwnServer } from './boundary.ts';
import { issuerResourceNamespace, type AnyIssuer } from './identity.ts';

/**
 * The annotation by which a namespace marks a Secret as Vault credentials for its own Vault
 * server: the names of the TokenIssuers (comma-separated) that may send it there.
 */
export const CREDENTIALS_FOR_ANNOTATION = 'tokensmith.dev/vault-credentials-for';

/** A Secret key's value and the Secret's annotations. */
export interface SecretValue {
  /** The key's value, decoded; undefined when the Secret has no such key. */
  value: string | undefined;
  annotations: Readonly<Record<string, string>>;
}

/** What the connection builder reads from Kubernetes and the file system. */
export interface CredentialSources {
  /** A key of a Secret; undefined when the Secret is missing. */
  secretValue(secret: ObjectKey, key: string): Promise<SecretValue | undefined>;
  /** A short-lived token of a service account (TokenRequest). */
  serviceAccountToken(account: ObjectKey, audiences: string[]): Promise<string>;
  readFile(path: string): Promise<string>;
}

/** The Vault connection of `issuer`, without limiter and logger (the caller adds them). */
export async function issuerVaultConnection(
  issuer: AnyIssuer,
  config: Config,
  sources: CredentialSources,
): Promise<Omit<VaultConnection, 'limiter' | 'logger'>> {
  const problem = boundaryProblem(issuer, config);
  if (problem) throw new TokensmithError('InvalidSpec', problem);
  const spec = issuer.spec.vault ?? {};
  const address = spec.address ?? config.vault.address;
  if (!address) {
    throw new TokensmithError(
      'IssuerNotReady',
      'no Vault address: set spec.vault.address on the issuer or start tokensmith with --vault-address',
    );
  }
  const namespace = issuerResourceNamespace(issuer, config.clusterResourceNamespace);
  const auth = await issuerAuth(issuer, namespace, config, sources);
  const caPem = spec.caBundle ?? config.vault.caPem;
  const tlsServerName = spec.tlsServerName ?? config.vault.tlsServerName;
  return { address, auth, ...(caPem ? { caPem } : {}), ...(tlsServerName ? { tlsServerName } : {}) };
}

/**
 * Reads a credential from a Secret of the issuer's namespace. A TokenIssuer that names its own Vault
 * server sends the value there, so it may only use Secrets its namespace marked for it (a person
 * who may create TokenIssuers but not read Secrets must not exfiltrate them this way).
 */
async function secretValue(
  sources: CredentialSources,
  ref: { name: string; key?: string },
  namespace: string,
  defaultKey: string,
  markedFor: string | undefined,
): Promise<string> {
  const key = ref.key ?? defaultKey;
  const found = await sources.secretValue({ namespace, name: ref.name }, key);
  if (markedFor !== undefined && found !== undefined) {
    const allowed = (found.annotations[CREDENTIALS_FOR_ANNOTATION] ?? '').split(',').map((n) => n.trim());
    if (!allowed.includes(markedFor)) {
      throw new TokensmithError(
        'CredentialsMissing',
        `Secret ${namespace}/${ref.name} is not marked for TokenIssuer ${markedFor}, which sends it to its own ` +
          `Vault server: annotate the Secret with ${CREDENTIALS_FOR_ANNOTATION}=${markedFor} if that is meant`,
      );
    }
  }
  const value = found?.value;
  if (value === undefined || value.trim() === '') {
    throw new TokensmithError(
      'CredentialsMissing',
      `Secret ${namespace}/${ref.name} has no key "${key}" with Vault credentials; create it or fix the secretRef`,
    );
  }
  return value.trim();
}

/**
 * Audiences of service-account tokens sent to Vault: the issuer's, or `vault`. Never none (the
 * API server would then issue a token for itself, which whoever runs that Vault could replay).
 */
export function vaultAudiences(audiences: readonly string[] | undefined): string[] {
  return audiences && audiences.length > 0 ? [...audiences] : ['vault'];
}

async function issuerAuth(
  issuer: AnyIssuer,
  namespace: string,
  config: Config,
  sources: CredentialSources,
): Promise<VaultAuth> {
  const auth = issuer.spec.vault?.auth;
  const markedFor =
    issuer.kind === 'TokenIssuer' && namesOwnServer(issuer) ? (issuer.metadata?.name ?? '') : undefined;
  if (auth?.token)
    return {
      method: 'token',
      token: await secretValue(sources, auth.token.secretRef, namespace, 'token', markedFor),
    };
  if (auth?.appRole) {
    return {
      method: 'appRole',
      mountPath: auth.appRole.mountPath ?? 'approle',
      roleId: auth.appRole.roleId,
      secretId: await secretValue(sources, auth.appRole.secretRef, namespace, 'secretId', markedFor),
    };
  }
  if (auth?.kubernetes) {
    const k8s = auth.kubernetes;
    const account = k8s.serviceAccountRef;
    const tokenFile = config.vault.auth?.method === 'kubernetes' ? config.vault.auth.tokenFile : undefined;
    return {
      method: 'kubernetes',
      mountPath: k8s.mountPath ?? 'kubernetes',
      role: k8s.role,
      jwt: account
        ? () =>
            sources.serviceAccountToken({ namespace, name: account.name }, vaultAudiences(account.audiences))
        : () => sources.readFile(tokenFile ?? '/var/run/secrets/kubernetes.io/serviceaccount/token'),
    };
  }
  const fallback = config.vault.auth;
  if (!fallback) {
    throw new TokensmithError(
      'IssuerNotReady',
      'no Vault auth: set spec.vault.auth on the issuer or start tokensmith with --vault-auth',
    );
  }
  if (fallback.method === 'kubernetes') {
    const { tokenFile } = fallback;
    return {
      method: 'kubernetes',
      mountPath: fallback.mountPath,
      role: fallback.role,
      jwt: () => sources.readFile(tokenFile),
    };
  }
  return fallback;
}
