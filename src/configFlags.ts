/** The flags of `tokensmith run`, with their help text. Defaults are in parseConfig. */
export const FLAGS = {
  kubeconfig: {
    type: 'string',
    help: 'kubeconfig file (env KUBECONFIG); default: in-cluster, then ~/.kube/config',
  },
  namespace: {
    type: 'string',
    multiple: true,
    help: 'watch policies in this namespace only (repeatable; env TOKENSMITH_NAMESPACES, comma-separated); default: all',
  },
  'install-scope': {
    type: 'string',
    help: 'cluster (default) | namespaced: with namespaced, tokensmith needs only Roles in the --namespace namespaces (deploy/namespaced) and serves no ClusterTokenIssuers',
  },
  'cluster-resource-namespace': {
    type: 'string',
    help: 'namespace of ClusterTokenIssuer credentials and JWKS ConfigMaps (env TOKENSMITH_CLUSTER_RESOURCE_NAMESPACE; default: the pod namespace, else tokensmith-system)',
  },
  'cluster-issuer-selector': {
    type: 'string',
    help: 'serve only ClusterTokenIssuers matching this label selector, e.g. tokensmith.dev/instance=a (several tokensmith instances in one cluster); default: all',
  },
  'vault-address': {
    type: 'string',
    help: 'default Vault address for issuers that name none (env VAULT_ADDR)',
  },
  'vault-ca-cert': {
    type: 'string',
    help: "PEM file of the CA that signs Vault's certificate (env VAULT_CACERT)",
  },
  'vault-tls-server-name': {
    type: 'string',
    help: "TLS server name to verify Vault's certificate against (env VAULT_TLS_SERVER_NAME)",
  },
  'vault-auth': {
    type: 'string',
    help: 'default Vault auth: token | approle | kubernetes (env TOKENSMITH_VAULT_AUTH; default: token if VAULT_TOKEN is set)',
  },
  'vault-role-id': {
    type: 'string',
    help: 'AppRole role-id (env VAULT_ROLE_ID); the secret-id comes from VAULT_SECRET_ID or --vault-secret-id-file',
  },
  'vault-secret-id-file': { type: 'string', help: 'file holding the AppRole secret-id' },
  'vault-approle-mount': { type: 'string', help: 'AppRole auth mount (default approle)' },
  'vault-kubernetes-role': {
    type: 'string',
    help: 'Vault role for Kubernetes auth (env TOKENSMITH_VAULT_ROLE)',
  },
  'vault-kubernetes-mount': { type: 'string', help: 'Kubernetes auth mount (default kubernetes)' },
  'vault-kubernetes-token-file': {
    type: 'string',
    help: 'service-account token presented to Vault (default /var/run/secrets/kubernetes.io/serviceaccount/token)',
  },
  'vault-kv-mount': { type: 'string', help: 'default KV v2 mount for token records (default secret)' },
  'vault-path-prefix': {
    type: 'string',
    help: 'default path prefix under the KV mount (default tokensmith)',
  },
  'vault-transit-mount': { type: 'string', help: 'default transit mount for signing keys (default transit)' },
  'vault-qps': {
    type: 'string',
    help: 'requests per second toward each Vault server (default 50; burst --vault-burst, default 100)',
  },
  'vault-burst': { type: 'string', help: 'request burst toward each Vault server (default 100)' },
  'vault-timeout': {
    type: 'string',
    help: 'deadline of each Vault request as a whole, however slowly a server answers (default 10s, at least 1s)',
  },
  'kube-qps': { type: 'string', help: 'requests per second toward the Kubernetes API (default 20)' },
  'kube-burst': { type: 'string', help: 'request burst toward the Kubernetes API (default 40)' },
  concurrency: { type: 'string', help: 'policies reconciled at once (default 4)' },
  'schedule-jitter': {
    type: 'string',
    help: 'largest delay added per policy to cron fire times, spreading policies that share a schedule (default 30s)',
  },
  'min-rotation-interval': {
    type: 'string',
    help: 'refuse policies that would rotate more often than this: schedules firing closer together, or token.ttl minus renewBefore below it (default 1m)',
  },
  'resync-period': {
    type: 'string',
    help: 'reconcile every cached policy and issuer again this often, spread over a few minutes, a safety net should an event or a scheduled requeue be lost (default 4h, at least 1m)',
  },
  'relist-interval': {
    type: 'string',
    help: 'replace a watch that delivered nothing, not even a bookmark, for this long with a fresh list, so a watch gone silent cannot hide changes (default 5m, at least 10s)',
  },
  'list-page-size': {
    type: 'string',
    help: 'objects per page when listing a collection (default 500)',
  },
  'workload-restart-qps': {
    type: 'string',
    help: 'workload restarts per second across all policies, so a mass rotation rolls gradually (default 1)',
  },
  'verify-port': {
    type: 'string',
    help: 'port of the verification server (discovery, JWKS; HTTPS), on every replica (default 8443)',
  },
  'tls-cert-file': {
    type: 'string',
    help: 'TLS certificate (PEM) of the verification server; reloaded when it changes. Unset: no server',
  },
  'tls-key-file': { type: 'string', help: 'TLS private key (PEM) of the verification server' },
  'metrics-port': {
    type: 'string',
    help: 'port of the Prometheus metrics endpoint (HTTP, /metrics; default 9402; "off" to disable)',
  },
  'introspection-caller-qps': {
    type: 'string',
    help: 'introspection requests per second per caller identity (default 500; burst twice that)',
  },
  'log-level': {
    type: 'string',
    help: 'fatal | error | warn | info | debug | trace (default info; env LOG_LEVEL)',
  },
  'leader-elect': {
    type: 'boolean',
    help: 'elect one active replica through a Lease (default true; --no-leader-elect to disable)',
  },
  'no-leader-elect': { type: 'boolean', help: 'run without leader election (one replica only!)' },
  shards: {
    type: 'string',
    help: 'split the policies into this many shards, each a Lease held by one replica (default 1: one leader acts); every replica must use the same count',
  },
  'leader-election-namespace': {
    type: 'string',
    help: 'namespace of the Lease (default: the cluster resource namespace)',
  },
  help: { type: 'boolean', help: 'show this help' },
} as const;
