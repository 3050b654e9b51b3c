import { Watch, type KubeConfig } from '@kubernetes/client-node';

/**
 * The Watch a ListWatch uses inside the informer: it asks for bookmarks, which keep the
 * resourceVersion fresh on quiet collections so reconnects avoid 410 Gone, and it never leaves a
 * watch open for a run the informer has retired. ListWatch.stop() cannot abort a watch whose
 * request is still being set up (it only aborts the request it already holds); this closes that
 * gap by checking `retired` before and after the request starts. Failures to set up a request
 * (Watch throws them instead of reporting them) are reported through `done` like any other.
 */
export class GuardedWatch extends Watch {
  readonly #retired: () => boolean;

  constructor(kubeConfig: KubeConfig, retired: () => boolean) {
    super(kubeConfig);
    this.#retired = retired;
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    if (this.#retired()) return new AbortController();
    let controller: AbortController;
    try {
      controller = await super.watch(path, { ...queryParams, allowWatchBookmarks: true }, callback, done);
    } catch (err) {
      // Setting up the request failed (e.g. refreshing credentials). Watch lets that escape, and on
      // a reconnect nobody awaits it: report it like any watch failure instead.
      done(err);
      return new AbortController();
    }
    if (this.#retired()) controller.abort();
    return controller;
  }
}
