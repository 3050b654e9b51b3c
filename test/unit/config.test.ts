/**
 * parseConfig: the defaults made explicit, flags over environment, the Vault token never from a
 * flag, and bad input refused at start with a message that names the flag and says what to do.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, type Config, type ConfigSources } from '../../src/config.ts';

function parse(
  argv: string[],
  env: Record<string, string> = { VAULT_TOKEN: 'hvs.test' },
  files: Record<string, string> = {},
) {
  const sources: ConfigSources = { argv, env, readFile: (path) => files[path], hostname: 'pod-a' };
  return parseConfig(sources);
}
const config = (argv: string[], env?: Record<string, string>) => parse(argv, env) as Config;

describe('parseConfig', () => {
  it('defaults every setting', () => {
    const c = config([]);
    expect(c).toMatchObject({
      namespaces: [],
      installScope: 'cluster',
      clusterResourceNamespace: 'tokensmith-system',
      vault: {
        auth: { method: 'token', token: 'hvs.test' },
        kvMount: 'secret',
        pathPrefix: 'tokensmith',
        qps: 50,
        burst: 100,
        timeoutMs: 10_000,
      },
      kube: { qps: 20, burst: 40 },
      concurrency: 4,
      minRotationIntervalMs: 60_000,
      resyncPeriodMs: 4 * 3_600_000,
      relistIntervalMs: 5 * 60_000,
      listPageSize: 500,
      leaderElection: { enabled: true, namespace: 'tokensmith-system', name: 'tokensmith-controller' },
    });
    expect(c.leaderElection.identity).toMatch(/^pod-a-[a-z0-9]+$/);
    expect(Object.isFrozen(c.vault)).toBe(true);
  });

  it('takes flags over the environment, and the namespace from the pod', () => {
    const c = parse(
      ['--namespace=a', '--namespace=b', '--vault-qps=7', '--no-leader-elect', '--resync-period=30m'],
      { VAULT_TOKEN: 't', TOKENSMITH_NAMESPACES: 'c' },
      { '/var/run/secrets/kubernetes.io/serviceaccount/namespace': 'platform\n' },
    ) as Config;
    expect(c.namespaces).toEqual(['a', 'b', 'c']);
    expect(c.clusterResourceNamespace).toBe('platform');
    expect(c.vault.qps).toBe(7);
    expect(c.leaderElection.enabled).toBe(false);
    expect(c.resyncPeriodMs).toBe(30 * 60_000);
  });

  it.each([
    [['--concurrency=0'], /--concurrency/],
    [['--vault-address=vault:8200'], /--vault-address must be a URL such as https:\/\/vault:8200/],
    [['--install-scope=everywhere'], /--install-scope must be cluster or namespaced/],
    [['--install-scope=namespaced'], /needs the namespaces to serve: pass --namespace/],
    [['--resync-period=10s'], /--resync-period/],
    [['--vault-ca-cert=/no/such/file'], /cannot read the Vault CA file \/no\/such\/file/],
    [['--no-such-flag'], /see tokensmith run --help/],
    [['--tls-cert-file=/tls/tls.crt'], /--tls-cert-file and --tls-key-file go together/],
    [['--verify-port=8443'], /--verify-port needs --tls-cert-file and --tls-key-file/],
    [['--tls-cert-file=a', '--tls-key-file=b', '--verify-port=http'], /--verify-port must be a port number/],
    [['--shards=two'], /--shards must be a positive number/],
    [['--shards=1000'], /--shards must be at most 256/],
    [['--shards=4', '--no-leader-elect'], /--shards needs leader election/],
  ])('refuses %j with a message naming it', (argv, message) => {
    expect(() => parse(argv)).toThrow(ConfigError);
    expect(() => parse(argv)).toThrow(message);
  });

  it('shards only when asked: one leader by default', () => {
    expect(config([]).leaderElection.shards).toBe(1);
    expect(config(['--shards=8']).leaderElection).toMatchObject({ enabled: true, shards: 8 });
  });

  it('turns the verification server on with a certificate and key, on port 8443 by default', () => {
    expect(config([]).verify).toBeUndefined();
    expect(config(['--tls-cert-file=/tls/tls.crt', '--tls-key-file=/tls/tls.key']).verify).toEqual({
      port: 8443,
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      callerQps: 500,
    });
  });

  it('returns help for --help', () => {
    expect(parse(['--help'])).toBe('help');
  });
});
