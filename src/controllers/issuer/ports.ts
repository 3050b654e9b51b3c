/** What the issuer controller needs of the world, as narrow ports (adapters: src/kube, src/vault). */
import type { TokenIssuerStatus } from '../../api/v1alpha1.generated.ts';
import type { AnyIssuer } from '../../issuers/identity.ts';
import type { IssuerKeyStateStore, SigningKeys } from '../../ports.ts';

export type { EventSink } from '../tokenPolicy/ports.ts';

/** Writes the issuer's Kubernetes objects: its JWKS ConfigMap and its status. */
export interface IssuerWriter {
  /**
   * Writes the JWKS ConfigMap, controlled by `owner` (skipped by the caller when unchanged). Throws
   * ConfigMapNotOwned, and writes nothing, when a ConfigMap of that name exists that `owner` does
   * not control: tokensmith never takes over an object it did not create.
   */
  applyConfigMap(
    namespace: string,
    name: string,
    data: Record<string, string>,
    labels: Record<string, string>,
    owner: AnyIssuer,
  ): Promise<void>;
  /** The data of a ConfigMap from the cache, to skip no-op writes. */
  configMapData(namespace: string, name: string): Record<string, string> | undefined;
  applyStatus(issuer: AnyIssuer, status: TokenIssuerStatus): Promise<void>;
}

/** One issuer's side of Vault: its signing keys, their lifecycle state, its JWKS copy. */
export interface IssuerVault {
  keys: SigningKeys;
  keyState: IssuerKeyStateStore;
  /** Proves the issuer's folder is readable with its credentials (its Vault policy allows it). */
  checkAccess(): Promise<void>;
  /** Stores the JWKS copy in Vault (no write when unchanged); resolves to its path, for status. */
  publishJwks(jwks: string): Promise<string>;
  /** The JWKS copy in Vault (what the issuer controller last published); undefined before that. */
  readJwks(): Promise<string | undefined>;
}

/** The IssuerVault of each issuer, built from its spec and credentials (see issuers/runtimes.ts). */
export interface IssuerVaults {
  /** Runs `fn` with the issuer's Vault; an auth failure makes the credentials be read again. */
  use<T>(issuer: AnyIssuer, fn: (vault: IssuerVault) => Promise<T>): Promise<T>;
  /** Drops what was built for a deleted issuer. */
  forget(issuer: AnyIssuer): void;
}
