/** The options and the interface of the informers created by informer.ts. */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Clock, RequestLimiter } from '../ports.ts';
import type { BackoffOptions } from '../util/backoff.ts';
import type { WarnLogger } from '../util/logger.ts';
import type { WatchEndReason } from './guardedWatch.ts';
import type { ListPage } from './listPages.ts';

/** Options of createInformer. */
export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The collection to watch, e.g. `/api/v1/secrets` or `/apis/tokensmith.dev/v1alpha1/tokenpolicies`. */
  path: string;
  /**
   * Lists the same collection, passing the options on, e.g.
   * `(o) => core.listSecretForAllNamespaces(o)`. Typed results are converted to the JSON form
   * watch events have, so the cache holds one shape.
   */
  list: ListPage<T>;
  /** Applied to the list and the watch alike. Default: everything. */
  labelSelector?: string;
  /**
   * Objects the cache keeps, beyond the label selector (which anyone who may label an object can
   * meet); others are dropped as if they did not match. Default: all.
   */
  keep?: (obj: T) => boolean;
  /**
   * Watch metadata only (PartialObjectMetadata): the cache then holds no object's data. The list
   * function must ask for metadata too (see listMetadata). Default false.
   */
  metadataOnly?: boolean;
  /** Called for an object that appeared or changed (never for an unchanged resourceVersion). */
  onChange?: (obj: T) => void;
  /** Called with the last known state of an object that is gone or left the selector. */
  onDelete?: (obj: T) => void;
  /** List requests go through it. Default: unlimited. */
  limiter?: RequestLimiter;
  /** Default: the system clock. */
  clock?: Clock;
  logger?: WarnLogger;
  /** How often the watchdog replaces the watch with a fresh list and watch. Default 5 minutes. */
  relistIntervalMs?: number;
  /** Delay before restarting after a failure. Default 1 s doubling to 30 s, jitter 0.2. */
  restartBackoff?: BackoffOptions;
  /** Source of jitter in [0, 1). Default Math.random. */
  random?: () => number;
  /**
   * Each watch request asks the server to end it after a random time between this and twice
   * this (client-go's reflector does the same), so connections are recycled and spread out.
   * Default 5 minutes.
   */
  minWatchTimeoutMs?: number;
  /** Objects per list page. Default 500. */
  pageSize?: number;
  /**
   * Called for every cached object once per `resyncIntervalMs` (both must be set for resyncs to
   * happen). Like client-go's resync it re-reads nothing: it only hands the cache out again.
   */
  onResync?: (obj: T) => void;
  /** How often onResync is called for every cached object. Default: never. */
  resyncIntervalMs?: number;
}

/** A started-once, cache-backed view of one collection. */
export interface ResourceInformer<T extends KubernetesObject> {
  start(): void;
  /** Stops watching; the cache keeps its last state. Pending waitForSync() calls reject. */
  stop(): Promise<void>;
  /** Whether the first list has been applied to the cache. */
  hasSynced(): boolean;
  /** Resolves once synced; rejects on stop() or after `timeoutMs` (default: no timeout). */
  waitForSync(timeoutMs?: number): Promise<void>;
  /** The object with this key (`namespace/name`, or `name` if cluster-scoped; see objectKey). */
  get(key: string): T | undefined;
  /** Every cached object, or those of one namespace. */
  list(namespace?: string): T[];
  /** Times a failed run was restarted (a counter, for metrics). */
  readonly restarts: number;
  /** How long the watch has been failing without a successful list since (0 while it is up). */
  readonly downForMs: number;
  /**
   * Whether it is down for a reason the API server coming back cures: no answer at all, or a 5xx
   * (false while it is up, and for a refusal such as 403, which waits out its backoff).
   */
  readonly downTransiently: boolean;
  /**
   * Starts the next run now instead of when its backoff ends (the API server answers again; see
   * apiRecovery.ts). The failure count is kept, so a run that fails again backs off further.
   */
  retryNow(): void;
  /** Lists applied to the cache (a counter: first sync, restarts, watchdog, 410 Gone). */
  readonly relists: number;
  /** Lists that held a different number of objects than the API server announced (a counter). */
  readonly listMismatches: number;
  /** Watch requests that ended, by reason (counters; a retired run's are not counted). */
  readonly watchEnds: Readonly<Record<WatchEndReason, number>>;
  /** Resyncs done (a counter). */
  readonly resyncs: number;
}

export const DEFAULT_RELIST_INTERVAL_MS = 5 * 60_000;
export const DEFAULT_RESTART_BACKOFF = { baseMs: 1000, maxMs: 30_000, jitter: 0.2 } as const;
export const DEFAULT_PAGE_SIZE = 500;
export const DEFAULT_MIN_WATCH_TIMEOUT_MS = 5 * 60_000;
