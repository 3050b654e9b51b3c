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
