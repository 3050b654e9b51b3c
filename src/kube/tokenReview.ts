/**
 * Who a caller of the verification server is: its bearer token checked with a TokenReview for
 * tokensmith's own audience (a token minted for the API server or for Vault is refused), the
 * result cached briefly by the token's sha256 (never the token) in a bounded map, failures too,
 * so a flood of bad tokens does not become a flood of TokenReviews.
 */
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Clock, RequestLimiter } from '../ports.ts';

/** The audience service-account tokens must be minted for to call tokensmith. */
export const CALLER_AUDIENCE = 'tokensmith';

export interface Caller {
  /** `system:serviceaccount:<namespace>:<name>`. */
  username: string;
  /** Set for a service account. */
  serviceAccount?: { namespace: string; name: string };
}

export interface CallerAuthenticator {
  /** The caller the token belongs to; undefined when it is not valid for tokensmith. */
  authenticate(token: string): Promise<Caller | undefined>;
}

const MAX_ENTRIES = 10_000;

export function tokenReviewAuthenticator(options: {
  kubeConfig: KubeConfig;
  limiter: RequestLimiter;
  clock: Clock;
  /** How long a valid answer is reused; default 30 s. An invalid one: 5 s. */
  ttlMs?: number;
}): CallerAuthenticator {
  const api = options.kubeConfig.makeApiClient(AuthenticationV1Api);
  const ttlMs = options.ttlMs ?? 30_000;
  const cache = new Map<string, { caller: Caller | undefined; until: number }>();
  return {
    async authenticate(token) {
      if (token.length === 0 || token.length > 8192) return undefined;
      const key = createHash('sha256').update(token).digest('hex');
      const now = options.clock.now().getTime();
      const hit = cache.get(key);
      if (hit && hit.until > now) return hit.caller;
      const review = await options.limiter.run(() =>
        api.createTokenReview({ body: { spec: { token, audiences: [CALLER_AUDIENCE] } } }),
      );
      const status = review.status;
      const username = status?.user?.username;
      const valid =
        status?.authenticated === true &&
        username !== undefined &&
        (status.audiences ?? []).includes(CALLER_AUDIENCE);
      const match = valid ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username) : null;
      const caller: Caller | undefined = valid
        ? {
            username,
            ...(match ? { serviceAccount: { namespace: match[1] ?? '', name: match[2] ?? '' } } : {}),
          }
        : undefined;
      if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value ?? '');
      cache.set(key, { caller, until: now + (caller ? ttlMs : 5_000) });
      return caller;
    },
  };
}
