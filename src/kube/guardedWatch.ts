import { Watch, type KubeConfig } from '@kubernetes/client-node';

/**
 * Why a watch request ended, as far as the client can tell: `timeout` is the routine end of a
 * watch at the `timeoutSeconds` it asked for; `closed-by-server` is a clean end before that (the
 * server restarting, or dropping a client that fell behind).
 */
export type WatchEndReason = 'timeout' | 'closed-by-server' | 'inactivity-timeout' | 'expired' | 'failed';

/** How a watch end is told in the log. */
export const WATCH_END_MESSAGES: Record<WatchEndReason, string> = {
  timeout: 'the watch reached its timeout; resuming from the last resourceVersion',
  'closed-by-server':
    'the API server closed the watch before its timeout (a restart, or this client fell behind); resuming from the last resourceVersion',
  'inactivity-timeout': 'the watch delivered nothing, not even a bookmark, for too long; reconnecting',
  expired: 'the watch resourceVersion expired (410 Gone); relisting',
  failed: 'the watch failed',
};

/** A watch that ended, reported once per watch request of a live run. */
export interface WatchEnd {
  reason: WatchEndReason;
  /** How long the request was open. */
  openForMs: number;
  /** Events (bookmarks included) it delivered. */
  events: number;
}

/**
 * The Watch a ListWatch uses inside the informer: it asks for bookmarks, which keep the
 * resourceVersion fresh on quiet collections so reconnects avoid 410 Gone, and it never leaves a
 * watch open for a run the informer has retired. ListWatch.stop() cannot abort a watch whose
 * request is still being set up (it only aborts the request it already holds); this closes that
 * gap by checking `retired` before and after the request starts. Failures to set up a request
 * (Watch throws them instead of reporting them) are reported through `done` like any other. Each
 * watch request of a live run that ends is reported to `onEnd` with its reason, so that the server
 * closing watches (as it does to a client that falls behind) is visible and counted.
 */
export class GuardedWatch extends Watch {
  readonly #retired: () => boolean;
  readonly #onEnd: (end: WatchEnd) => void;
  readonly #now: () => number;
  readonly #timeoutSeconds: () => number;
  readonly #onEvent: () => void;

  constructor(
    kubeConfig: KubeConfig,
    options: {
      /** Whether the informer run this watch belongs to is over. */
      retired: () => boolean;
      /** Told about each watch request of a live run that ends. */
      onEnd?: (end: WatchEnd) => void;
      /** The `timeoutSeconds` asked of the server, per request (it ends the watch cleanly then). */
      timeoutSeconds: () => number;
      now?: () => number;
      /** Told about every event it delivers, bookmarks included (the watch is alive). */
      onEvent?: () => void;
    },
  ) {
    super(kubeConfig);
    // The library ends a watch that delivers nothing for 30 s; the API server sends a quiet watch a
    // bookmark only about once a minute, so that would reconnect every quiet watch twice a minute.
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = WATCH_INACTIVITY_TIMEOUT_MS;
    this.#retired = options.retired;
    this.#onEnd = options.onEnd ?? (() => undefined);
    this.#timeoutSeconds = options.timeoutSeconds;
    this.#now = options.now ?? Date.now;
    this.#onEvent = options.onEvent ?? (() => undefined);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.#retired()) return new AbortController();
    const openedAt = this.#now();
    const timeoutSeconds = Math.max(1, Math.round(this.#timeoutSeconds()));
    let events = 0;
    let ended = false;
    const counted = (phase: string, apiObj: unknown, watchObj?: unknown) => {
      events += 1;
      this.#onEvent();
      callback(phase, apiObj, watchObj);
    };
    const reportingDone = (err: unknown) => {
      if (!ended && !this.#retired()) {
        ended = true;
        const openForMs = this.#now() - openedAt;
        this.#onEnd({ reason: watchEndReason(err, openForMs, timeoutSeconds), openForMs, events });
      }
      done(err);
    };
    let controller: AbortController;
    try {
      controller = await super.watch(
        path,
        { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
        counted,
        reportingDone,
      );
    } catch (err) {
      // Setting up the request failed (e.g. refreshing credentials). Watch lets that escape, and on
      // a reconnect nobody awaits it: report it like any watch failure instead.
      reportingDone(err);
      return new AbortController();
    }
    if (this.#retired()) controller.abort();
    return controller;
  }
}

/**
 * No event or bookmark for this long ends a watch as inactive (the library's default is 30 s):
 * more than the API server's bookmark interval on a quiet watch (about a minute).
 */
export const WATCH_INACTIVITY_TIMEOUT_MS = 90_000;

/**
 * Classifies what ended a watch request (see Watch.watch's `done`); a clean end within a second
 * of the requested timeout is the routine one.
 */
export function watchEndReason(err: unknown, openForMs: number, timeoutSeconds: number): WatchEndReason {
  if (err === null || err === undefined)
    return openForMs >= timeoutSeconds * 1000 - 1000 ? 'timeout' : 'closed-by-server';
  const e = err as { name?: unknown; statusCode?: unknown; code?: unknown };
  if (e.name === 'TimeoutError') return 'inactivity-timeout';
  if (e.statusCode === 410 || e.code === 410) return 'expired';
  return 'failed';
}
