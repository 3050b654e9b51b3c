/**
 * What tokensmith wrote itself: a status write whose content equals the cached status is skipped,
 * and an informer event whose object is, by resourceVersion, tokensmith's own last write needs no
 * reconcile (and its data is known without a read).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { stableHash } from '../core/fingerprint.ts';

/** True when `next` equals `current` (so writing it would change nothing). */
export const unchanged = (current: unknown, next: unknown) =>
  current !== undefined && stableHash(current) === stableHash(next);

/** Whether `object` is, by resourceVersion, the state tokensmith wrote itself last. */
export function isSameWrite(
  written: ReadonlyMap<string, KubernetesObject>,
  object: KubernetesObject,
): boolean {
  const ours = written.get(`${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`);
  const version = object.metadata?.resourceVersion;
  return version !== undefined && ours?.metadata?.resourceVersion === version;
}

/**
 * Writes in flight per object key. A watch event can arrive before the response of the write
 * that caused it; waiting for that write to settle first lets `isSameWrite` recognise it.
 */
export class WritesInFlight {
  private readonly inFlight = new Map<string, Promise<unknown>>();

  /** Tracks `write` for `key` until it settles; returns it. */
  track<T>(key: string, write: Promise<T>): Promise<T> {
    const settled = write.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.set(key, settled);
    void settled.then(() => {
      if (this.inFlight.get(key) === settled) this.inFlight.delete(key);
    });
    return write;
  }

  /** Resolves once no write tracked for `key` when called is in flight. */
  settled(key: string): Promise<void> {
    const pending = this.inFlight.get(key);
    return pending ? pending.then(() => undefined) : Promise.resolve();
  }
}
