/**
 * The verification side of a replica, wired: discovery and JWKS (routes.ts, jwksSource.ts) and
 * introspection (introspect.ts) behind the HTTPS server (server.ts), fed by the manager's caches
 * on every replica. The introspection cache follows the policy watch (a policy's status records
 * every revocation), and what introspection served is logged every 10 s while it serves.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { KubeConfig } from '@kubernetes/client-node';
import type { TokenPolicy } from '../api/v1alpha1.generated.ts';
import type { Config } from '../config.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { IssuerRuntimes } from '../issuers/runtimes.ts';
import { tokenReviewAuthenticator } from '../kube/tokenReview.ts';
import { auditLogger, type Logger } from '../log.ts';
import type { Watch } from '../manager/watch.ts';
import type { Clock, ObjectKey, RequestLimiter } from '../ports.ts';
import { issuerVaults } from '../vault/issuerVault.ts';
import { Introspection } from './introspect.ts';
import { TokenEndpoint, type TokenEndpointDeps } from './tokenEndpoint.ts';
import { UsageMonitor, type UsageDeps } from './usage.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { PolicyChanges } from '../kube/policyChanges.ts';
import { JwksSource } from './jwksSource.ts';
import { issuerRoutes } from './routes.ts';
import { startVerifyServer, type Routes, type VerifyServer } from './server.ts';

export interface Verification {
  /** The server once it listens; undefined when it is off (no certificate). */
  server: Promise<VerifyServer | undefined>;
  stop(): Promise<void>;
}

export function startVerification(options: {
  config: Config['verify'];
  kubeConfig: KubeConfig;
  kubeLimiter: RequestLimiter;
  clock: Clock;
  log: Logger;
  runtimes: IssuerRuntimes;
  issuers: () => readonly AnyIssuer[];
  policy: (key: ObjectKey) => TokenPolicy | undefined;
  policies: Watch<TokenPolicy>;
  cachesSynced: Promise<void>;
  /** What the token endpoint needs beyond introspection's (see TokenEndpointDeps). */
  exchange: Pick<TokenEndpointDeps, 'resolve' | 'events' | 'annotate' | 'random' | 'afterRecorded'>;
  metrics: Metrics;
  /** This replica's name, and how it writes its status.usage entries. */
  replica: string;
  writeUsage: UsageDeps['writeUsage'];
}): Verification {
  const { config, clock, log, runtimes } = options;
  if (!config) return { server: Promise.resolve(undefined), stop: () => Promise.resolve() };
  let synced = false;
  void options.cachesSynced.then(() => {
    synced = true;
  });
  const auditLog = auditLogger(log);
  const callers = tokenReviewAuthenticator({
    kubeConfig: options.kubeConfig,
    limiter: options.kubeLimiter,
    clock,
  });
  const usage = new UsageMonitor({
    clock,
    log: auditLog,
    events: options.exchange.events,
    metrics: options.metrics,
    replica: options.replica,
    writeUsage: options.writeUsage,
    policy: (namespace, name) => options.policy({ namespace, name }),
    ...(config.usageFlushMs === undefined ? {} : { flushMs: config.usageFlushMs }),
  });
  usage.start();
  // What both endpoints need: the caller's identity, the policy caches, the issuer's store, and
  // where usage is reported.
  const common = {
    clock,
    log,
    auditLog,
    callers,
    usage,
    policy: options.policy,
    store: async (issuer: AnyIssuer) => (await runtimes.get(issuer)).store,
  };
  const introspection = new Introspection({
    ...common,
    callerQps: config.callerQps,
    // A fifth of a caller's budget may go to tokens not cached (each costs Vault reads).
    callerMissQps: Math.max(1, config.callerQps / 5),
  });
  const tokens = new TokenEndpoint({
    ...common,
    // Each exchange costs Vault reads and writes: a tenth of a caller's introspection budget.
    callerQps: Math.max(1, config.callerQps / 10),
    ...options.exchange,
  });
  // The replicas' own usage writes change nothing about a token.
  const changes = new PolicyChanges();
  const dropCached = (policy: TokenPolicy) => {
    if (!changes.changed(policy)) return;
    introspection.policyChanged({
      namespace: policy.metadata?.namespace ?? '',
      name: policy.metadata?.name ?? '',
    });
  };
  options.policies.add({
    onChange: dropCached,
    onDelete: (policy) => {
      changes.forget(policy);
      introspection.policyChanged({
        namespace: policy.metadata?.namespace ?? '',
        name: policy.metadata?.name ?? '',
      });
    },
  });
  let reported = 0;
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const statsTimer = setInterval(() => {
    const { hits, misses, vaultReads } = introspection.counts;
    if (hits + misses === reported) return;
    reported = hits + misses;
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    log.info(
      {
        hits,
        misses,
        vaultReads,
        eventLoopDelayMs: { p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
      },
      'introspection stats',
    );
    loopDelay.reset();
  }, 10_000);
  statsTimer.unref();
  const server = startVerifyServer({
    port: config.port,
    certFile: config.certFile,
    keyFile: config.keyFile,
    log,
    ready: () => synced,
    routes: counted(
      issuerRoutes({
        issuers: options.issuers,
        jwks: new JwksSource({ vaults: issuerVaults(runtimes), clock }),
        introspect: (issuer, request) => introspection.handle(issuer, request),
        token: (issuer, request) => tokens.handle(issuer, request),
      }),
      options.metrics,
    ),
  });
  return {
    server,
    async stop() {
      clearInterval(statsTimer);
      await usage.stop();
      loopDelay.disable();
      await (await server.catch(() => undefined))?.close();
    },
  };
}

/** The routes, each request counted by endpoint and status code. */
function counted(routes: Routes, metrics: Metrics): Routes {
  return async (request) => {
    const answer = await routes(request);
    const path = request.path;
    const endpoint = path.endsWith('/.well-known/openid-configuration')
      ? 'discovery'
      : path.endsWith('/jwks.json')
        ? 'jwks'
        : path.endsWith('/introspect')
          ? 'introspect'
          : path.endsWith('/token')
            ? 'token'
            : 'other';
    metrics.verifyRequests.inc({ endpoint, code: String(answer?.status ?? 404) });
    return answer;
  };
}
