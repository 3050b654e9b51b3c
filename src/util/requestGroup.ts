/**
 * Which tenant a request is made for. A work queue runs each key's handler inside the key's group
 * (its namespace), and every request limiter reads it here to let groups take turns: a namespace
 * that floods a shared Vault or API server waits behind the others' next requests, not in front of
 * them. Carried by AsyncLocalStorage, like a Go context value, so that the ports between the
 * reconciler and the clients need no extra parameter. Outside any group the group is ''.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const storage = new AsyncLocalStorage<string>();

/** Runs `fn` (and everything it awaits) as work for `group`. */
export function withRequestGroup<T>(group: string, fn: () => T): T {
  return storage.run(group, fn);
}

/** The group of the work that is running now; '' outside any. */
export function currentRequestGroup(): string {
  return storage.getStore() ?? '';
}
