/** Credentials for Vault logins (CredentialSources): Secrets, service-account tokens, files. */
import { readFile } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { TokensmithError } from '../errors.ts';
import type { CredentialSources } from '../issuers/connection.ts';
import type { ObjectKey, RequestLimiter } from '../ports.ts';
import { kubeError, kubeStatus } from './apiErrors.ts';

export function credentialSources(kubeConfig: KubeConfig, limiter: RequestLimiter): CredentialSources {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  return {
    async secretValue(secret: ObjectKey, key: string) {
      try {
        const found = await limiter.run(() => core.readNamespacedSecret(secret));
        const value = found.data?.[key];
        return {
          value: value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8'),
          annotations: found.metadata?.annotations ?? {},
        };
      } catch (err) {
        if (kubeStatus(err) === 404) return undefined;
        throw kubeError(`reading Secret ${secret.namespace}/${secret.name}`, err);
      }
    },
    async serviceAccountToken(account: ObjectKey, audiences: string[]) {
      try {
        const request = await limiter.run(() =>
          core.createNamespacedServiceAccountToken({
            ...account,
            body: { spec: { audiences, expirationSeconds: 600 } },
          }),
        );
        return request.status?.token ?? '';
      } catch (err) {
        if (kubeStatus(err) === 403) {
          throw new TokensmithError(
            'CredentialsMissing',
            `tokensmith may not request a token for ServiceAccount ${account.namespace}/${account.name}: the ` +
              `namespace opts in with a Role granting create on serviceaccounts/token for resourceNames ` +
              `[${account.name}], bound to tokensmith's ServiceAccount`,
            { status: 403 },
          );
        }
        throw kubeError(`requesting a token for ServiceAccount ${account.namespace}/${account.name}`, err);
      }
    },
    readFile: (path: string) => readFile(path, 'utf8'),
  };
}
