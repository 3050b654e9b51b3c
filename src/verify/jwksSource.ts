/**
 * The JWKS each issuer publishes, as the verification server serves it: the copy the issuer
 * controller wrote to Vault (active and verify-only keys; never a retired or compromised one),
 * read once per issuer state — the issuer object's resourceVersion, which every republication
 * changes through its status — and at most every `maxAgeMs` regardless, so a follower that missed
 * an event still catches up. Concurrent requests share one read.
 */
import { createHash } from 'node:crypto';
import type { IssuerVaults } from '../controllers/issuer/ports.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { Clock } from '../ports.ts';

export interface PublishedJwks {
  body: string;
  /** A strong ETag of the body. */
  etag: string;
}

export class JwksSource {
  private readonly vaults: IssuerVaults;
  private readonly clock: Clock;
  private readonly maxAgeMs: number;
  private readonly entries = new Map<
    string,
    { state: string; at: number; jwks: Promise<PublishedJwks | undefined> }
  >();

  constructor(options: { vaults: IssuerVaults; clock: Clock; maxAgeMs?: number }) {
    this.vaults = options.vaults;
    this.clock = options.clock;
    this.maxAgeMs = options.maxAgeMs ?? 30_000;
  }

  get(issuer: AnyIssuer): Promise<PublishedJwks | undefined> {
    const key = issuer.metadata?.uid ?? '';
    const state = issuer.metadata?.resourceVersion ?? '';
    const now = this.clock.now().getTime();
    const entry = this.entries.get(key);
    if (entry && entry.state === state && now - entry.at < this.maxAgeMs) return entry.jwks;
    const jwks = this.vaults.use(issuer, async (vault) => {
      const body = await vault.readJwks();
      return body === undefined
        ? undefined
        : { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"` };
    });
    const next = { state, at: now, jwks };
    this.entries.set(key, next);
    jwks.catch(() => {
      if (this.entries.get(key) === next) this.entries.delete(key);
    });
    return jwks;
  }

  /** Forgets issuers that are gone. */
  retain(uids: ReadonlySet<string>): void {
    for (const key of this.entries.keys()) if (!uids.has(key)) this.entries.delete(key);
  }
}
