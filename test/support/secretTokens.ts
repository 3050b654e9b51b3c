/**
 * A Secret checker for tests that run a fault or a failover: lists a namespace's managed Secrets
 * every 200 ms and keeps the hash of every token seen, by policy, so the test can check afterwards
 * that Vault recorded each one (no Secret ever held a token Vault did not know).
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { LABEL } from '../../src/api/constants.ts';
import { tokenHash } from '../../src/core/fingerprint.ts';
import { adminKubeConfig } from './environment.ts';

export interface SecretTokenWatch {
  /** Stops listing; the token hashes seen, by policy name. */
  stop(): Promise<Map<string, Set<string>>>;
}

export function watchSecretTokens(namespace: string): SecretTokenWatch {
  const seen = new Map<string, Set<string>>();
  const done = new AbortController();
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const loop = (async () => {
    while (!done.signal.aborted) {
      const list = await core.listNamespacedSecret({ namespace }).catch(() => undefined);
      for (const secret of list?.items ?? []) {
        const policy = secret.metadata?.labels?.[LABEL.policy];
        const token = secret.data?.TOKEN;
        if (!policy || !token) continue;
        const hashes = seen.get(policy) ?? new Set<string>();
        hashes.add(tokenHash(Buffer.from(token, 'base64').toString('utf8')));
        seen.set(policy, hashes);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    async stop() {
      done.abort();
      await loop;
      return seen;
    },
  };
}
