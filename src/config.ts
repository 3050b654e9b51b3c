/**
 * The operator's configuration: parsed from flags and environment once in main, defaulted,
 * validated and frozen. Bad configuration fails at start with a message that names the flag.
 * Secrets (a Vault token, an AppRole secret-id) are read from the environment or files, never
 * from flags, which any user of the node can see in the process list.
 */
import { parseArgs } from 'node:util';
import { FLAGS } from './configFlags.ts';
import {
  ConfigError,
  durationAtLeast,
  jitter,
  positiveInteger,
  positiveNumber,
  required,
} from './configValues.ts';

export type VaultAuthConfig =
  | { method: 'token'; token: string }
  | { method: 'appRole'; mountPath: string; roleId: string; secretId: string }
  | { method: 'kubernetes'; mountPath: string; role: string; tokenFile: string };

export interface Config {
  kubeconfig: string | undefined;
  /** Namespaces whose policies are watched; empty = all. */
  namespaces: readonly string[];
  /**
   * `cluster`: ClusterTokenIssuers too, and Secrets, ConfigMaps and namespaces watched cluster-wide
   * (a ClusterRole). `namespaced`: only the --namespace namespaces, with Roles there and no
   * cluster-wide right at all; ClusterTokenIssuers are not served.
   */
  installScope: 'cluster' | 'namespaced';
  /** Where ClusterTokenIssuer credentials and JWKS ConfigMaps live. */
  clusterResourceNamespace: string;
  /** Label selector for the ClusterTokenIssuers this instance serves; undefined: all. */
  clusterIssuerSelector?: string | undefined;
  vault: {
    /** Defaults for issuers that do not name their own Vault. */
    address: string | undefined;
    caPem: string | undefined;
    tlsServerName: string | undefined;
    auth: VaultAuthConfig | undefined;
    kvMount: string;
    pathPrefix: string;
    transitMount: string;
    qps: number;
    burst: number;
    /** Deadline of each Vault request as a whole, connect to last byte. */
    timeoutMs: number;
  };
  kube: { qps: number; burst: number };
  concurrency: number;
  /** Largest per-policy delay added to schedule fire times, so shared schedules spread out. */
  scheduleJitterMs: number;
  /** The shortest time allowed between two rotations of a policy (schedule or ttl − renewBefore). */
  minRotationIntervalMs: number;
  /** Every cached policy and issuer is reconciled again this often, a safety net for lost work. */
  resyncPeriodMs: number;
  /** Informers replace a watch silent (not even a bookmark) for this long with a fresh list. */
  relistIntervalMs: number;
  /** Objects per page when an informer lists its collection. */
  listPageSize: number;
  /** Workload restarts per second across all policies (burst: twice that, at least 1). */
  workloadRestartQps: number;
  logLevel: string;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    identity: string;
    /** Shards the keys are split into, each a Lease (kube/shardLeases.ts); 1 (default): one leader acts. */
    shards?: number;
  };
  /** The verification server; undefined without a TLS certificate and key. */
  verify:
    | {
        port: number;
        certFile: string;
        keyFile: string;
        callerQps: number;
        /** How often usage Events and status are written (verify/usage.ts; default 10 s, tests less). */
        usageFlushMs?: number;
      }
    | undefined;
  /** The metrics endpoint; undefined: off. */
  metrics: { port: number } | undefined;
}

export { FLAGS } from './configFlags.ts';
export { ConfigError } from './configValues.ts';

/** What parseConfig needs from the world, injected so it can be tested. */
export interface ConfigSources {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  readFile: (path: string) => string | undefined;
  hostname: string;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function vaultAuth(
  values: Record<string, string | boolean | string[] | undefined>,
  sources: ConfigSources,
): VaultAuthConfig | undefined {
  const { env, readFile } = sources;
  const str = (k: string) => values[k] as string | undefined;
  const method = str('vault-auth') ?? env.TOKENSMITH_VAULT_AUTH ?? (env.VAULT_TOKEN ? 'token' : undefined);
  switch (method) {
    case undefined:
      return undefined;
    case 'token':
      return { method: 'token', token: required('a Vault token', env.VAULT_TOKEN, 'set VAULT_TOKEN') };
    case 'approle': {
      const file = str('vault-secret-id-file');
      const secretId = file ? readFile(file)?.trim() : env.VAULT_SECRET_ID;
      return {
        method: 'appRole',
        mountPath: str('vault-approle-mount') ?? 'approle',
        roleId: required(
          'an AppRole role-id',
          str('vault-role-id') ?? env.VAULT_ROLE_ID,
          'pass --vault-role-id or set VAULT_ROLE_ID',
        ),
        secretId: required(
          'an AppRole secret-id',
          secretId,
          'set VAULT_SECRET_ID or pass --vault-secret-id-file',
        ),
      };
    }
    case 'kubernetes':
      return {
        method: 'kubernetes',
        mountPath: str('vault-kubernetes-mount') ?? 'kubernetes',
        role: required(
          'a Vault role',
          str('vault-kubernetes-role') ?? env.TOKENSMITH_VAULT_ROLE,
          'pass --vault-kubernetes-role',
        ),
        tokenFile: str('vault-kubernetes-token-file') ?? `${SA_DIR}/token`,
      };
    default:
      throw new ConfigError(`--vault-auth must be token, approle or kubernetes, got "${method}"`);
  }
}

/** Parses flags and environment into a frozen Config; throws ConfigError on bad input. */
/** The verification server's settings: on when given a certificate and key, both or neither. */
function verifyServer(
  port: string | undefined,
  certFile: string | undefined,
  keyFile: string | undefined,
  callerQps: number,
): Config['verify'] {
  if (certFile === undefined && keyFile === undefined) {
    if (port !== undefined) throw new ConfigError('--verify-port needs --tls-cert-file and --tls-key-file');
    return undefined;
  }
  if (certFile === undefined || keyFile === undefined) {
    throw new ConfigError('--tls-cert-file and --tls-key-file go together: pass both');
  }
  const value = port === undefined ? 8443 : Number(port);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(`--verify-port must be a port number (0 to 65535), got "${port ?? ''}"`);
  }
  return { port: value, certFile, keyFile, callerQps };
}

/** The metrics endpoint's settings: port 9402 unless told, `off` for none. */
function metricsServer(port: string | undefined): Config['metrics'] {
  if (port === 'off') return undefined;
  const value = port === undefined ? 9402 : Number(port);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(`--metrics-port must be a port number (0 to 65535) or off, got "${port ?? ''}"`);
  }
  return { port: value };
}

export function parseConfig(sources: ConfigSources): Config | 'help' {
  const options = Object.fromEntries(
    Object.entries(FLAGS).map(([k, v]) => [
      k,
      { type: v.type, ...('multiple' in v ? { multiple: true } : {}) },
    ]),
  ) as Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({ args: [...sources.argv], options, strict: true, allowPositionals: false })
      .values as typeof values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}; see tokensmith run --help`);
  }
  if (values.help) return 'help';
  const { env, readFile } = sources;
  const str = (k: string) => values[k] as string | undefined;

  const namespaces = [
    ...((values.namespace as string[] | undefined) ?? []),
    ...(env.TOKENSMITH_NAMESPACES ?? '').split(','),
  ]
    .map((n) => n.trim())
    .filter((n) => n.length > 0);
  const podNamespace = readFile(`${SA_DIR}/namespace`)?.trim();
  const clusterResourceNamespace =
    str('cluster-resource-namespace') ??
    env.TOKENSMITH_CLUSTER_RESOURCE_NAMESPACE ??
    podNamespace ??
    'tokensmith-system';
  const caFile = str('vault-ca-cert') ?? env.VAULT_CACERT;
  const caPem = caFile ? readFile(caFile) : undefined;
  if (caFile && caPem === undefined) throw new ConfigError(`cannot read the Vault CA file ${caFile}`);
  const address = str('vault-address') ?? env.VAULT_ADDR;
  if (address !== undefined && !/^https?:\/\/[^/]+/.test(address)) {
    throw new ConfigError(`--vault-address must be a URL such as https://vault:8200, got "${address}"`);
  }

  const installScope = str('install-scope') ?? 'cluster';
  if (installScope !== 'cluster' && installScope !== 'namespaced') {
    throw new ConfigError(`--install-scope must be cluster or namespaced, got "${installScope}"`);
  }
  if (installScope === 'namespaced' && namespaces.length === 0) {
    throw new ConfigError('--install-scope=namespaced needs the namespaces to serve: pass --namespace');
  }
  const leaderElect = values['no-leader-elect']
    ? false
    : ((values['leader-elect'] as boolean | undefined) ?? true);
  const shards = positiveInteger('shards', str('shards'), 1);
  if (shards > 256) throw new ConfigError(`--shards must be at most 256 (a Lease each), got ${shards}`);
  if (shards > 1 && !leaderElect)
    throw new ConfigError(
      '--shards needs leader election (its Leases): drop --no-leader-elect, or use --shards=1',
    );
  const config: Config = {
    kubeconfig: str('kubeconfig') ?? env.KUBECONFIG,
    namespaces,
    installScope,
    clusterResourceNamespace,
    clusterIssuerSelector: str('cluster-issuer-selector'),
    vault: {
      address,
      caPem,
      tlsServerName: str('vault-tls-server-name') ?? env.VAULT_TLS_SERVER_NAME,
      auth: vaultAuth(values, sources),
      kvMount: str('vault-kv-mount') ?? 'secret',
      pathPrefix: str('vault-path-prefix') ?? 'tokensmith',
      transitMount: str('vault-transit-mount') ?? 'transit',
      qps: positiveNumber('vault-qps', str('vault-qps'), 50),
      burst: positiveNumber('vault-burst', str('vault-burst'), 100),
      timeoutMs: durationAtLeast('vault-timeout', str('vault-timeout'), '10s', '1s'),
    },
    kube: {
      qps: positiveNumber('kube-qps', str('kube-qps'), 20),
      burst: positiveNumber('kube-burst', str('kube-burst'), 40),
    },
    concurrency: positiveInteger('concurrency', str('concurrency'), 4),
    scheduleJitterMs: jitter(str('schedule-jitter')),
    minRotationIntervalMs: durationAtLeast('min-rotation-interval', str('min-rotation-interval'), '1m', '0s'),
    resyncPeriodMs: durationAtLeast('resync-period', str('resync-period'), '4h', '1m'),
    relistIntervalMs: durationAtLeast('relist-interval', str('relist-interval'), '5m', '10s'),
    listPageSize: positiveInteger('list-page-size', str('list-page-size'), 500),
    workloadRestartQps: positiveNumber('workload-restart-qps', str('workload-restart-qps'), 1),
    logLevel: str('log-level') ?? env.LOG_LEVEL ?? 'info',
    verify: verifyServer(
      str('verify-port'),
      str('tls-cert-file'),
      str('tls-key-file'),
      positiveNumber('introspection-caller-qps', str('introspection-caller-qps'), 500),
    ),
    metrics: metricsServer(str('metrics-port')),
    leaderElection: {
      enabled: leaderElect,
      shards,
      namespace: str('leader-election-namespace') ?? clusterResourceNamespace,
      name: 'tokensmith-controller',
      identity: `${sources.hostname}-${Math.random().toString(36).slice(2, 8)}`,
    },
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The text of `tokensmith run --help`. */
export function helpText(): string {
  const rows = Object.entries(FLAGS).map(([name, f]) => `  --${name.padEnd(30)} ${f.help}`);
  return `usage: tokensmith run [flags]\n\nRuns the tokensmith controller.\n\nflags:\n${rows.join('\n')}\n`;
}
