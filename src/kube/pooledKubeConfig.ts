/**
 * A KubeConfig whose API clients share their connections. `@kubernetes/client-node` 2.0 builds a
 * new undici Agent for every request (KubeConfig.applySecurityAuthentication), so every request
 * opens a new TLS connection and builds a new secure context: at scale that was a third of the
 * controller's CPU (TLS handshakes, certificate parsing) and most of its memory (sockets kept
 * alive by agents nobody reuses). Here one Agent per context/cluster/user serves every request,
 * as client-go's transport does.
 *
 * The request's credentials still come from the KubeConfig each time (headers: a rotated
 * service-account token is picked up at once). A client certificate read from a file is picked
 * up by replacing the shared Agent every `maxAgeMs` (10 minutes by default); the Agent replaced
 * is closed gracefully (requests in flight on it, watches included, finish first).
 *
 * Every request it authenticates is also counted (`onRequest`, by HTTP method): the controller's
 * own figure of how hard it presses the API server (tokensmith_kube_requests_total).
 */
import { KubeConfig } from '@kubernetes/client-node';

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];
type HttpsOptions = Parameters<KubeConfig['applyToHTTPSOptions']>[0];

export interface PooledKubeConfigOptions {
  maxAgeMs?: number;
  now?: () => number;
  /** Called once per request sent (API clients, watches, raw requests), with its HTTP method. */
  onRequest?: (method: string) => void;
}
type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

interface Pooled {
  dispatcher: Dispatcher;
  createdAt: number;
}

export class PooledKubeConfig extends KubeConfig {
  private readonly pool = new Map<string, Pooled>();
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly onRequest: (method: string) => void;

  constructor(options: PooledKubeConfigOptions = {}) {
    super();
    this.maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
    this.onRequest = options.onRequest ?? (() => undefined);
  }

  /** A pooled copy of `source` (same clusters, users, contexts and current context). */
  static from(source: KubeConfig, options?: PooledKubeConfigOptions): PooledKubeConfig {
    if (source instanceof PooledKubeConfig) return source;
    const pooled = new PooledKubeConfig(options);
    pooled.loadFromOptions({
      clusters: source.getClusters(),
      users: source.getUsers(),
      contexts: source.getContexts(),
      currentContext: source.getCurrentContext(),
    });
    return pooled;
  }

  /** Raw requests (metadata-only lists, the readiness probe) authenticate here. */
  override async applyToHTTPSOptions(options: HttpsOptions): Promise<void> {
    const method = (options as { method?: unknown }).method;
    this.onRequest(typeof method === 'string' ? method.toUpperCase() : 'GET');
    await super.applyToHTTPSOptions(options);
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    this.onRequest(context.getHttpMethod().toUpperCase());
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh) return; // plain http without TLS options: undici's global dispatcher pools already
    const key = JSON.stringify([
      this.getCurrentContext(),
      this.getCurrentCluster()?.server,
      this.getCurrentUser()?.name,
    ]);
    const now = this.now();
    const pooled = this.pool.get(key);
    if (pooled && now - pooled.createdAt < this.maxAgeMs) {
      context.setDispatcher(pooled.dispatcher);
      void fresh.close().catch(() => undefined); // never connected: nothing to wait for
      return;
    }
    this.pool.set(key, { dispatcher: fresh, createdAt: now });
    if (pooled) void pooled.dispatcher.close().catch(() => undefined);
  }

  /** Closes every shared connection (at shutdown). */
  async close(): Promise<void> {
    const dispatchers = [...this.pool.values()].map((p) => p.dispatcher);
    this.pool.clear();
    await Promise.all(dispatchers.map((d) => d.close().catch(() => undefined)));
  }
}
