/**
 * A robust informer over @kubernetes/client-node 2.0.1's ListWatch. The library's informer has
 * gaps that matter to an operator (notes/libraries.md): it applies the label selector to the watch
 * only, stops for good on any error but 410, and its watches can go silent. Here each "run" is one
 * ListWatch; a failed run is replaced after a backoff (1 s → 30 s) and a watchdog replaces a run
 * whose watch delivered nothing, not even a bookmark, for an interval (default 5 minutes), and
 * every run starts with a list of every page, applied
 * to one cache that outlives runs, so changes missed between runs (deletes included) still reach
 * the handlers. A list that holds fewer objects than the API server said it would is logged and
 * counted. A resync (controller-runtime's SyncPeriod) hands every cached object to `onResync`
 * periodically, so no key is left without work if an event or a scheduled requeue was lost. The
 * handlers are meant to enqueue keys only; reconcilers read the cache.
 */
import {
  ADD,
  DELETE,
  ERROR,
  ListWatch,
  UPDATE,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { safeErrorFields, TokensmithError } from '../errors.ts';
import type { RequestLimiter } from '../ports.ts';
import { backoffDelay } from '../util/backoff.ts';
import { systemClock } from '../util/clock.ts';
import { Gate } from '../util/gate.ts';
import { silentLogger } from '../util/logger.ts';
import { kubeErrorFields } from './apiErrors.ts';
import { GuardedWatch, WATCH_END_MESSAGES, type WatchEnd, type WatchEndReason } from './guardedWatch.ts';
import { parseLabelSelector } from './labelSelector.ts';
import { readCollection } from './collectionList.ts';
import type { ListOptions } from './listPages.ts';
import { metadataWatchConfig } from './metadataOnly.ts';
import { objectKey } from './objectKey.ts';

export type { ListOptions } from './listPages.ts';
export { joinedView, type CacheView } from './cacheView.ts';
export type { InformerOptions, ResourceInformer } from './informerTypes.ts';
import {
  DEFAULT_MIN_WATCH_TIMEOUT_MS,
  DEFAULT_PAGE_SIZE,
  DEFAULT_RELIST_INTERVAL_MS,
  DEFAULT_RESTART_BACKOFF,
  type InformerOptions,
  type ResourceInformer,
} from './informerTypes.ts';

const unlimited: RequestLimiter = { run: (request) => request() };

/** Thrown into a retired run's ListWatch so that it never goes on to watch. */
class RetiredRunError extends Error {}

/** Creates an informer; call start(). See the module comment for what it adds to ListWatch. */
export function createInformer<T extends KubernetesObject>(options: InformerOptions<T>): ResourceInformer<T> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const limiter = options.limiter ?? unlimited;
  const random = options.random ?? Math.random;
  const relistIntervalMs = options.relistIntervalMs ?? DEFAULT_RELIST_INTERVAL_MS;
  const restartBackoff = { ...DEFAULT_RESTART_BACKOFF, ...options.restartBackoff };
  const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const minWatchTimeoutMs = options.minWatchTimeoutMs ?? DEFAULT_MIN_WATCH_TIMEOUT_MS;
  const { labelSelector, path } = options;
  const matchesLabels = parseLabelSelector(labelSelector ?? '');
  const keep = options.keep ?? (() => true);
  const watchConfig = options.metadataOnly ? metadataWatchConfig(options.kubeConfig) : options.kubeConfig;

  const cache = new Map<string, T>();
  let started = false;
  let stopped = false;
  let run = 0; // the current run's number; events from other runs are ignored
  /** The run in progress; lastEventAt: its watch's last event or bookmark (or the run's start). */
  let current: { run: number; lw: ListWatch<T>; startedAt: number; lastEventAt: number } | undefined;
  let failures = 0;
  /** Since when no run has listed successfully after a failure (undefined: it is up). */
  let downSince: number | undefined;
  /** The HTTP status of the last failure (undefined: no answer, or up). */
  let lastFailure: { status: number | undefined } | undefined;
  let restarts = 0;
  let relists = 0;
  let listMismatches = 0;
  let resyncs = 0;
  const watchEnds: Record<WatchEndReason, number> = {
    timeout: 0,
    'closed-by-server': 0,
    'inactivity-timeout': 0,
    expired: 0,
    failed: 0,
  };
  let cancelRestart: (() => void) | undefined;
  let cancelWatchdog: (() => void) | undefined;
  let cancelResync: (() => void) | undefined;
  const synced = new Gate(clock);

  const emit = (handler: ((obj: T) => void) | undefined, obj: T) => {
    try {
      handler?.(obj);
    } catch (err) {
      logger.warn(
        { informer: path, err: safeErrorFields(err) },
        'informer handler threw; handlers should only enqueue',
      );
    }
  };

  const upsert = (obj: T) => {
    if (!matchesLabels(obj.metadata?.labels) || !keep(obj)) {
      remove(obj);
      return;
    }
    const key = objectKey(obj);
    const known = cache.get(key);
    const version = obj.metadata?.resourceVersion;
    if (known && version !== undefined && known.metadata?.resourceVersion === version) return;
    // Server-side apply's field ownership is never read here, and is often the larger part of an
    // object: the cache does not keep it.
    if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
    cache.set(key, obj);
    emit(options.onChange, obj);
  };

  const remove = (obj: T) => {
    const key = objectKey(obj);
    if (!cache.delete(key)) return;
    emit(options.onDelete, obj);
  };

  // Lists every page, then makes the cache equal to the result (deleting what is gone) before the
  // ListWatch sees it; its own add/update callbacks then find nothing new.
  const listAndApply = async (runNumber: number): Promise<KubernetesListObject<T>> => {
    const { items, listed } = await readCollection<T>({
      list: async (request: ListOptions) => {
        const page = await limiter.run(() => options.list(request));
        if (runNumber !== run) throw new RetiredRunError('retired');
        return page;
      },
      pageSize,
      labelSelector,
      matchesLabels,
      keep,
      path,
      logger,
      onMismatch: () => ++listMismatches,
    });
    const keys = new Set(items.map(objectKey));
    for (const [key, obj] of cache) if (!keys.has(key)) remove(obj);
    for (const obj of items) upsert(obj);
    relists += 1;
    logger.debug?.(
      { informer: path, objects: items.length, pages: listed.pages.length, relists },
      'listed the collection',
    );
    synced.open();
    downSince = undefined;
    lastFailure = undefined;
    return { metadata: { resourceVersion: listed.resourceVersion }, items };
  };

  const watchEnded = (end: WatchEnd) => {
    watchEnds[end.reason] += 1;
    // The routine end is only counted; a failure is logged as a warning by fail().
    if (end.reason === 'timeout' || end.reason === 'failed') return;
    logger.info?.(
      {
        informer: path,
        reason: end.reason,
        openForMs: end.openForMs,
        events: end.events,
        count: watchEnds[end.reason],
      },
      WATCH_END_MESSAGES[end.reason],
    );
  };

  const startRun = () => {
    if (stopped) return;
    const runNumber = ++run;
    const retired = () => stopped || runNumber !== run;
    const lw = new ListWatch<T>(
      path,
      new GuardedWatch(watchConfig, {
        retired,
        onEnd: watchEnded,
        timeoutSeconds: () => (minWatchTimeoutMs * (1 + random())) / 1000,
        now: () => clock.now().getTime(),
        onEvent: () => {
          if (!retired() && current) current.lastEventAt = clock.now().getTime();
        },
      }),
      () => listAndApply(runNumber),
      false,
      labelSelector,
    );
    lw.on(ADD, (obj) => {
      if (!retired()) upsert(obj);
    });
    lw.on(UPDATE, (obj) => {
      if (!retired()) upsert(obj);
    });
    lw.on(DELETE, (obj) => {
      if (!retired()) remove(obj);
    });
    lw.on(ERROR, (err: unknown) => {
      if (!retired()) fail(runNumber, err);
    });
    const startedAt = clock.now().getTime();
    current = { run: runNumber, lw, startedAt, lastEventAt: startedAt };
    // A run retired while its first request was being set up is stopped once start() returns.
    void lw.start().then(
      () => (retired() ? lw.stop() : undefined),
      (err: unknown) => {
        if (!retired()) fail(runNumber, err);
      },
    );
  };

  const retire = () => {
    run += 1;
    const lw = current?.lw;
    current = undefined;
    return lw ? lw.stop() : Promise.resolve();
  };

  const fail = (runNumber: number, err: unknown) => {
    if (runNumber !== run || stopped) return;
    const healthyFor = current ? clock.now().getTime() - current.startedAt : 0;
    if (healthyFor > restartBackoff.maxMs) failures = 0;
    failures += 1;
    downSince ??= clock.now().getTime();
    const fields = kubeErrorFields(err);
    lastFailure = { status: fields.status };
    const retryInMs = backoffDelay(failures, restartBackoff, random);
    logger.warn(
      { informer: path, attempt: failures, retryInMs, err: fields },
      'informer stopped; restarting',
    );
    void retire();
    cancelRestart = clock.setTimer(() => {
      cancelRestart = undefined;
      restarts += 1;
      startRun();
    }, retryInMs);
  };

  // A run whose watch delivered nothing, not even a bookmark (the API server sends a quiet watch
  // one about every minute), for a whole interval is replaced: list again, watch again. A live
  // watch is left alone: relisting 10,000 objects every few minutes was most of an idle
  // controller's CPU.
  const armWatchdog = () => {
    cancelWatchdog = clock.setTimer(() => {
      const now = clock.now().getTime();
      if (current && !stopped && now - current.lastEventAt >= relistIntervalMs) {
        if (now - current.startedAt > restartBackoff.maxMs) failures = 0;
        void retire();
        startRun();
      }
      if (!stopped) armWatchdog();
    }, relistIntervalMs);
  };

  const armResync = () => {
    const { onResync, resyncIntervalMs } = options;
    if (!onResync || resyncIntervalMs === undefined) return;
    cancelResync = clock.setTimer(() => {
      if (stopped) return;
      if (synced.isOpen) {
        resyncs += 1;
        for (const obj of [...cache.values()]) emit(onResync, obj);
      }
      armResync();
    }, resyncIntervalMs);
  };

  return {
    start() {
      if (started) throw new Error(`the informer for ${path} is already started`);
      started = true;
      startRun();
      armWatchdog();
      armResync();
    },
    async stop() {
      stopped = true;
      cancelRestart?.();
      cancelWatchdog?.();
      cancelResync?.();
      synced.rejectAll(new Error(`the informer for ${path} stopped before it synced`));
      await retire();
    },
    hasSynced: () => synced.isOpen,
    waitForSync(timeoutMs) {
      if (synced.isOpen) return Promise.resolve();
      if (stopped) return Promise.reject(new Error(`the informer for ${path} is stopped`));
      return synced.wait(
        timeoutMs,
        () =>
          new TokensmithError(
            'KubernetesRequestFailed',
            `the informer for ${path} did not sync within ${timeoutMs ?? 0} ms`,
          ),
      );
    },
    get: (key) => cache.get(key),
    list: (namespace) =>
      [...cache.values()].filter((obj) => namespace === undefined || obj.metadata?.namespace === namespace),
    get restarts() {
      return restarts;
    },
    get downForMs() {
      return downSince === undefined ? 0 : clock.now().getTime() - downSince;
    },
    get downTransiently() {
      if (downSince === undefined || lastFailure === undefined) return false;
      return lastFailure.status === undefined || lastFailure.status >= 500;
    },
    retryNow() {
      if (!cancelRestart || stopped) return; // up, or a run is already starting
      cancelRestart();
      cancelRestart = undefined;
      restarts += 1;
      startRun();
    },
    get relists() {
      return relists;
    },
    get listMismatches() {
      return listMismatches;
    },
    get watchEnds() {
      return { ...watchEnds };
    },
    get resyncs() {
      return resyncs;
    },
  };
}

/** Safe log fields of a list or watch failure, with its HTTP status when it had one. */
