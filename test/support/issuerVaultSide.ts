/**
 * The Vault adapters the controller uses for a TokenIssuer with default paths (transit, EdDSA),
 * so crash tests can replay what the controller did right before it died.
 */
import type { TokenIssuer } from '../../src/api/v1alpha1.generated.ts';
import { defaultKeyName, defaultPathPrefix } from '../../src/issuers/identity.ts';
import type { SigningKeys } from '../../src/ports.ts';
import type { VaultClient } from '../../src/vault/client.ts';
import { VaultIssuerKeyState } from '../../src/vault/issuerKeyState.ts';
import { createSigningKeys } from '../../src/vault/signingKeys.ts';

export function issuerVaultSide(
  client: VaultClient,
  issuer: TokenIssuer,
  options: { operatorPathPrefix: string; transitMount: string },
): { state: VaultIssuerKeyState; keys: SigningKeys } {
  return {
    state: new VaultIssuerKeyState({
      client,
      pathPrefix: defaultPathPrefix(issuer, options.operatorPathPrefix),
    }),
    keys: createSigningKeys({
      backend: 'transit',
      client,
      algorithm: 'EdDSA',
      name: defaultKeyName(issuer),
      mount: options.transitMount,
    }),
  };
}
