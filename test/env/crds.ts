import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  KubeConfig,
  KubernetesObjectApi,
  loadAllYaml,
  PatchStrategy,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';

/** Reads every CustomResourceDefinition in the YAML files of `dir`. */
export function readCrds(dir: string): V1CustomResourceDefinition[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'))
    .sort()
    .flatMap((name) => loadAllYaml(readFileSync(join(dir, name), 'utf8')) as (KubernetesObject | null)[])
    .filter((doc): doc is V1CustomResourceDefinition => doc?.kind === 'CustomResourceDefinition');
}

/**
 * Applies the CRDs in `dir` with server-side apply and waits until each is Established, so a
 * test can create custom resources as soon as the environment is up.
 */
export async function installCrds(
  kubeConfig: KubeConfig,
  dir: string,
  timeoutMs = 30_000,
): Promise<string[]> {
  const crds = readCrds(dir);
  const objects = KubernetesObjectApi.makeApiClient(kubeConfig);
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  for (const crd of crds) {
    await objects.patch(crd, undefined, undefined, 'tokensmith-testenv', true, PatchStrategy.ServerSideApply);
  }
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    for (;;) {
      const current = await api.readCustomResourceDefinition({ name });
      if (current.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline)
        throw new Error(`CRD ${name} was not Established within ${timeoutMs / 1000}s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return crds.map((crd) => crd.metadata?.name ?? '');
}
