/**
 * What the leader elector (leaderElection.ts) and the shard Leases (shardLeases.ts) share: where a
 * replica's Leases are and their timing, the labels that group them, and how an observer judges a
 * Lease live — by its own clock, from when it first saw the Lease's current record, never from the
 * holder's renewTime (as client-go does), so clock skew between nodes cannot make two holders.
 */
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { Clock } from '../ports.ts';

/** Label naming the group of Leases of one controller (the leader Lease's name). */
export const GROUP_LABEL = 'tokensmith.dev/lease-group';
/** Label saying what a Lease is for: leader, shard or member. */
export const ROLE_LABEL = 'tokensmith.dev/lease-role';

/** Where a replica's Leases are, who it is, and their timing. */
export interface LeaseOptions {
  namespace: string;
  /** The leader Lease's name (sharded replicas name theirs after it). */
  name: string;
  identity: string;
  /** How long a Lease is valid without renewal; default 15 s. */
  leaseDurationMs?: number;
  /** How often a held Lease is renewed; default 5 s. Must be well below leaseDurationMs. */
  renewPeriodMs?: number;
  /** How often a candidate looks again; default 2 s. */
  retryPeriodMs?: number;
  /** A holder that has not renewed for this long gives up (the caller stops); default 10 s. */
  renewDeadlineMs?: number;
  clock: Clock;
  log: Logger;
}

/** The default timing of every Lease (client-go's leader election defaults). */
export const LEASE_TIMING = {
  leaseDurationMs: 15_000,
  renewPeriodMs: 5_000,
  retryPeriodMs: 2_000,
  renewDeadlineMs: 10_000,
} as const;

/** Remembers when each Lease's current record (resourceVersion) was first seen, by its name. */
export class LeaseObserver {
  private readonly seen = new Map<string, { version: string; at: number }>();

  observe(lease: V1Lease, now: number): void {
    const name = lease.metadata?.name ?? '';
    const version = lease.metadata?.resourceVersion ?? '';
    if (this.seen.get(name)?.version !== version) this.seen.set(name, { version, at: now });
  }

  /** Held, and its record changed within its duration by the observer's clock. */
  live(lease: V1Lease, now: number): boolean {
    if (!lease.spec?.holderIdentity) return false;
    const seen = this.seen.get(lease.metadata?.name ?? '');
    return seen !== undefined && now - seen.at <= (lease.spec.leaseDurationSeconds ?? 0) * 1000;
  }
}
