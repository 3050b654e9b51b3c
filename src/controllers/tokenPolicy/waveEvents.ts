/**
 * Routine Events during a wave. A thousand policies created at once, or sharing a schedule, would
 * each get an `Issued` or `Rotated` Event: a thousand writes to the API server that tell a person
 * nothing the policies' status does not. Per issuer and window (10 s), the first few routine
 * Events go out per policy as usual; the rest are counted and become one Event per reason on the
 * issuer when the window ends ("Rotated: 990 more TokenPolicies (Scheduled) …"). Everything a
 * person triggered (a rotate or revoke annotation, a compromise, a spec change) and every Warning
 * is never held back: only `routine` Events are.
 *
 * Counts only: an aggregated note names no policy, so it tells no tenant about another's.
 */
import { API_VERSION } from '../../api/constants.ts';
import type { IssuerRef } from '../../issuers/resolved.ts';
import type { Clock } from '../../ports.ts';
import type { EventSink } from './ports.ts';

export const WAVE_WINDOW_MS = 10_000;
export const WAVE_EVENTS_PER_WINDOW = 10;

type Regarding = Parameters<EventSink['record']>[0];
type Event = Parameters<EventSink['record']>[1];

interface Held {
  action: string;
  count: number;
  /** Why, counted (e.g. Scheduled ×600, Renewal ×12). */
  why: Map<string, number>;
}

interface Window {
  startedAt: number;
  passed: number;
  issuer: Regarding;
  held: Map<string, Held>;
  cancel: () => void;
}

export class WaveEvents {
  private readonly windows = new Map<string, Window>();
  private readonly inner: EventSink;
  private readonly clock: Clock;
  private readonly options: { windowMs?: number; perWindow?: number };

  constructor(inner: EventSink, clock: Clock, options: { windowMs?: number; perWindow?: number } = {}) {
    this.inner = inner;
    this.clock = clock;
    this.options = options;
  }

  private get windowMs(): number {
    return this.options.windowMs ?? WAVE_WINDOW_MS;
  }

  /** A routine Event about `policy` (of `issuer`, in `namespace`): sent, or counted for the issuer. */
  record(policy: Regarding, issuer: IssuerRef, event: Event & { why?: string }): void {
    const namespace = policy.metadata?.namespace ?? '';
    const key = `${issuer.kind}/${issuer.kind === 'TokenIssuer' ? namespace : ''}/${issuer.name}`;
    const now = this.clock.now().getTime();
    let window = this.windows.get(key);
    if (window && now - window.startedAt >= this.windowMs) {
      this.windows.delete(key);
      this.emit(window);
      window = undefined;
    }
    if (!window) {
      window = {
        startedAt: now,
        passed: 0,
        held: new Map(),
        cancel: this.clock.setTimer(() => {
          this.flush();
        }, this.windowMs),
        issuer: {
          apiVersion: API_VERSION,
          kind: issuer.kind,
          metadata: { name: issuer.name, ...(issuer.kind === 'TokenIssuer' ? { namespace } : {}) },
        },
      };
      this.windows.set(key, window);
    }
    if (window.passed < (this.options.perWindow ?? WAVE_EVENTS_PER_WINDOW)) {
      window.passed++;
      this.inner.record(policy, {
        type: event.type,
        reason: event.reason,
        action: event.action,
        note: event.note,
      });
      return;
    }
    const held: Held = window.held.get(event.reason) ?? {
      action: event.action,
      count: 0,
      why: new Map<string, number>(),
    };
    held.count++;
    if (event.why) held.why.set(event.why, (held.why.get(event.why) ?? 0) + 1);
    window.held.set(event.reason, held);
  }

  /** Emits the aggregate of every window that has ended (all of them with `all`). */
  flush(all = false): void {
    const now = this.clock.now().getTime();
    for (const [key, window] of this.windows) {
      if (!all && now - window.startedAt < this.windowMs) continue;
      this.windows.delete(key);
      this.emit(window);
    }
  }

  /** Emits everything held (at shutdown). */
  stop(): void {
    this.flush(true);
  }

  private emit(window: Window): void {
    window.cancel();
    const seconds = Math.round(this.windowMs / 1000);
    for (const [reason, held] of window.held) {
      const why = [...held.why].map(([w, n]) => `${w} ×${n}`).join(', ');
      this.inner.record(window.issuer, {
        type: 'Normal',
        reason,
        action: held.action,
        note: `${reason}: ${held.count} more TokenPolicies of this issuer within ${seconds}s${why ? ` (${why})` : ''}; Events per policy resume when fewer than ${this.options.perWindow ?? WAVE_EVENTS_PER_WINDOW} come in ${seconds}s; each policy's status has its details`,
      });
    }
  }
}
