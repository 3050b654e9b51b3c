/**
 * Clients for the shared test environment started by test/setup/environment.ts, and helpers
 * that give each test file a namespace of its own.
 */
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import vault from 'node-vault';
import { inject } from 'vitest';

/** The environment's connection details (kubeconfig path, Vault address and token…). */
export function environment() {
  return inject('testEnvironment');
}

let kubeconfigOverride: string | undefined;

/**
 * Points this test file's helpers (adminKubeConfig and all that use it) at another cluster: a
 * private control plane (support/privateControlPlane.ts). Each test file has its own module state.
 */
export function useKubeconfig(path: string | undefined): void {
  kubeconfigOverride = path;
}

/** A KubeConfig for the administrator of the environment (or of the cluster useKubeconfig chose). */
export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigOverride ?? environment().kubeconfigPath);
  return kc;
}

/** A KubeConfig that authenticates with a bearer token (e.g. a service account's) and nothing else. */
export function bearerKubeConfig(token: string): KubeConfig {
  const env = environment();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'test', server: env.kubeApiserverUrl, caData: Buffer.from(env.kubeCaPem).toString('base64') },
    ],
    users: [{ name: 'bearer', token }],
    contexts: [{ name: 'test', cluster: 'test', user: 'bearer' }],
    currentContext: 'test',
  });
  return kc;
}

/** A node-vault client for the environment's Vault, trusting its CA; root token unless given one. */
export function vaultClient(token?: string): vault.client {
  const env = environment();
  return vault({
    apiVersion: 'v1',
    endpoint: env.vaultAddress,
    token: token ?? env.vaultToken,
    requestOptions: { ca: readFileSync(env.vaultCaCertPath, 'utf8') },
  });
}

/** The PEM of the CA that signed the environment's Vault serving certificate. */
export function vaultCaPem(): string {
  return readFileSync(environment().vaultCaCertPath, 'utf8');
}

/** A unique, valid Kubernetes name with the given prefix. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates a namespace for one test file and returns its name. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name } } });
  return name;
}
