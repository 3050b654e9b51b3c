/**
 * A circuit breaker per Vault server. A server that lets a request run into its deadline, or
 * sends more than the size cap, is not asked again for a while (5 s, doubling to 5 minutes while
 * it keeps doing so): requests to it fail at once instead, so a slow or hostile Vault named by one
 * namespace holds the controller's workers for one deadline per window, not for every request,
 * and other namespaces keep being served. Any answer from the server closes the breaker again.
 */
import { TokensmithError } from '../errors.ts';
import type { Clock } from '../ports.ts';
import { backoffDelay, type BackoffOptions } from '../util/backoff.ts';

/** What the Vault client asks of a breaker, per request. */
export interface VaultBreakerPort {
  /** Throws VaultUnreachable while the server's breaker is open. */
  check(address: string): void;
  /** The server answered (any HTTP status). */
  answered(address: string): void;
  /** The server ran into the deadline or past the size cap. */
  misbehaved(address: string): void;
  /** No answer at all (refused, reset, timed out): the server is down until it answers again. */
  unreachable(address: string): void;
}

export const DEFAULT_BREAKER_BACKOFF = { baseMs: 5_000, maxMs: 5 * 60_000, jitter: 0 } as const;

export class VaultBreakers implements VaultBreakerPort {
  private readonly clock: Clock;
  private readonly backoff: BackoffOptions;
  private readonly open = new Map<string, { failures: number; until: number }>();
  /** Servers that gave no answer to their last request. */
  private readonly down = new Set<string>();
  private readonly recovered: ((address: string) => void)[] = [];
  private readonly wentDown: ((address: string) => void)[] = [];

  constructor(options: { clock: Clock; backoff?: BackoffOptions }) {
    this.clock = options.clock;
    this.backoff = { ...DEFAULT_BREAKER_BACKOFF, ...options.backoff };
  }

  check(address: string): void {
    const state = this.open.get(address);
    if (!state) return;
    const waitMs = state.until - this.clock.now().getTime();
    if (waitMs <= 0) return; // half open: one request may try
    throw new TokensmithError(
      'VaultUnreachable',
      `Vault at ${address} ran into the request deadline or the size cap recently; it is not asked again for ${Math.ceil(waitMs / 1000)} s`,
    );
  }

  answered(address: string): void {
    const wasDown = this.down.delete(address);
    const wasOpen = this.open.delete(address);
    if (wasDown || wasOpen) for (const listener of this.recovered) listener(address);
  }

  unreachable(address: string): void {
    this.markDown(address);
  }

  /** Whether `address` gave no answer, or misbehaved, last time. */
  isDown(address: string): boolean {
    return this.down.has(address);
  }

  /** Calls `listener` when a server goes down (to probe it until it answers). */
  onDown(listener: (address: string) => void): void {
    this.wentDown.push(listener);
  }

  private markDown(address: string): void {
    if (this.down.has(address)) return;
    this.down.add(address);
    for (const listener of this.wentDown) listener(address);
  }

  /** Calls `listener` when a server that was down or misbehaving answers again. */
  onRecovered(listener: (address: string) => void): void {
    this.recovered.push(listener);
  }

  /**
   * Opens the breaker, or doubles its window when the server misbehaves again after it. Requests
   * that were in flight together and fail while it is open count once: six workers meeting the
   * same deadline are one misbehaviour, not six doublings.
   */
  misbehaved(address: string): void {
    const state = this.open.get(address);
    const now = this.clock.now().getTime();
    this.markDown(address);
    if (state && state.until > now) return;
    const failures = (state?.failures ?? 0) + 1;
    this.open.set(address, { failures, until: now + backoffDelay(failures, this.backoff, () => 0) });
  }
}
