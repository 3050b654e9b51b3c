/**
 * The two homes of an issuer's JWT signing key: transitSigningKeys.ts (the private key never
 * leaves Vault; the default) and kvSigningKeys.ts (keys made with WebCrypto and kept in KV v2).
 * createSigningKeys picks one from the issuer's spec.
 */
import type { SigningKeys } from '../ports.ts';
import { KvSigningKeys, type KvSigningKeysOptions } from './kvSigningKeys.ts';
import { TransitSigningKeys, type TransitSigningKeysOptions } from './transitSigningKeys.ts';

/** Where and how an issuer's signing key is kept. */
export type SigningKeysOptions =
  ({ backend: 'transit' } & TransitSigningKeysOptions) | ({ backend: 'kv' } & KvSigningKeysOptions);

/** The SigningKeys of an issuer, on the backend its spec names. */
export function createSigningKeys(options: SigningKeysOptions): SigningKeys {
  return options.backend === 'kv' ? new KvSigningKeys(options) : new TransitSigningKeys(options);
}
