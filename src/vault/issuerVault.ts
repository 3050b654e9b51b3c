/** The IssuerVault port on an issuer's runtime: its keys, key state, and JWKS copy in KV v2. */
import type { IssuerVault, IssuerVaults } from '../controllers/issuer/ports.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { IssuerRuntime, IssuerRuntimes } from '../issuers/runtimes.ts';
import { KvV2 } from './kv.ts';

function issuerVault(runtime: IssuerRuntime): IssuerVault {
  const kv = new KvV2({ client: runtime.client, mount: runtime.mount });
  const path = `${runtime.pathPrefix}/jwks`;
  return {
    keys: runtime.keys,
    keyState: runtime.keyState,
    async checkAccess() {
      // A record read proves the Vault policy allows the issuer's folder.
      await runtime.store.read({ namespace: 'tokensmith-probe', name: 'tokensmith-probe' });
    },
    async publishJwks(jwks) {
      const existing = await kv.read(path);
      if (existing?.data.jwks !== jwks) await kv.write(path, { jwks });
      return `${runtime.mount}/data/${path}`;
    },
    async readJwks() {
      const jwks = (await kv.read(path))?.data.jwks;
      return typeof jwks === 'string' ? jwks : undefined;
    },
  };
}

export function issuerVaults(runtimes: IssuerRuntimes): IssuerVaults {
  return {
    use: (issuer: AnyIssuer, fn) => runtimes.use(issuer, (runtime) => fn(issuerVault(runtime))),
    forget: (issuer) => {
      runtimes.forget(issuer);
    },
  };
}
