/**
 * Connection reuse against the real kube-apiserver: `@kubernetes/client-node` alone opens a new TLS
 * connection for every request (a new undici Agent each time); the PooledKubeConfig the operator
 * uses keeps one pool per context, replaces it after its maximum age (so a client certificate
 * read from a file is picked up), and still sends each request's own credentials. A TCP proxy in
 * front of the API server counts the connections.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { PooledKubeConfig } from '../../../src/kube/pooledKubeConfig.ts';
import { adminKubeConfig } from '../../support/environment.ts';
import { kubeConfigThrough, startTcpProxy, type TcpProxy } from './tcpProxy.ts';

const proxies: TcpProxy[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
});

async function throughProxy(): Promise<{ proxy: TcpProxy; kc: KubeConfig }> {
  const admin = adminKubeConfig();
  const proxy = await startTcpProxy(admin.getCurrentCluster()?.server ?? '');
  proxies.push(proxy);
  return { proxy, kc: kubeConfigThrough(admin, proxy) };
}

async function readNamespaces(kc: KubeConfig, times: number): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  for (let i = 0; i < times; i++) await core.readNamespace({ name: 'default' });
}

describe('PooledKubeConfig', () => {
  it('opens one connection for many requests, where the plain KubeConfig opens one per request', async () => {
    const plain = await throughProxy();
    await readNamespaces(plain.kc, 20);
    const pooledProxy = await throughProxy();
    const pooled = PooledKubeConfig.from(pooledProxy.kc);
    await readNamespaces(pooled, 20);
    // Concurrent requests open what they need, and later ones reuse those connections.
    const core = pooled.makeApiClient(CoreV1Api);
    await Promise.all(Array.from({ length: 8 }, () => core.readNamespace({ name: 'default' })));
    const afterBurst = pooledProxy.proxy.accepted;
    await readNamespaces(pooled, 20);
    await pooled.close();

    expect(plain.proxy.accepted).toBe(20);
    expect(afterBurst).toBeLessThanOrEqual(9);
    expect(pooledProxy.proxy.accepted).toBe(afterBurst);
  });

  it('replaces its pool after the maximum age, and each request still carries its credentials', async () => {
    const { proxy, kc } = await throughProxy();
    let now = 0;
    const pooled = PooledKubeConfig.from(kc, { maxAgeMs: 1000, now: () => now });
    await readNamespaces(pooled, 3);
    expect(proxy.accepted).toBe(1);
    now = 1500;
    await readNamespaces(pooled, 3);
    expect(proxy.accepted).toBe(2);

    // Credentials are the request's own, never the pool's: a user without any is refused.
    const anonymous = PooledKubeConfig.from(kc);
    anonymous.loadFromOptions({
      clusters: kc.getClusters(),
      users: [{ name: 'nobody' }],
      contexts: [{ name: 'anon', cluster: kc.getCurrentCluster()?.name ?? '', user: 'nobody' }],
      currentContext: 'anon',
    });
    await expect(anonymous.makeApiClient(CoreV1Api).readNamespace({ name: 'default' })).rejects.toThrow();
    await pooled.close();
    await anonymous.close();
  });
});
