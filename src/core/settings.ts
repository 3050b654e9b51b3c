/**
 * A TokenPolicy's spec resolved into the numbers and defaults the core works with. The mapping
 * from the API type lives in the controller; this file owns the defaults and the spec hash.
 */
import { stableHash } from './fingerprint.ts';
import type { OpaqueShape } from './opaque.ts';

export const DEFAULT_HISTORY_LIMIT = 3;
export const DEFAULT_REFRESH_TTL_FACTOR = 30;
export const DEFAULT_SECRET_KEYS = {
  token: 'TOKEN',
  refreshToken: 'REFRESH_TOKEN',
  expiresAt: 'TOKEN_EXPIRES_AT',
} as const;

/** What a token contains: a change of any of these means the live token no longer fits. */
export interface TokenShape {
  type: 'opaque' | 'jwt';
  opaque?: OpaqueShape;
  jwt?: { audience: string[]; subject: string; claims: Record<string, unknown> };
  scopes: string[];
  ttlMs: number;
  refresh?: { ttlMs: number };
  issuer: { kind: string; name: string };
}

/** A policy's settings, defaults applied. */
export interface PolicySettings {
  shape: TokenShape;
  /** Rotate when less than this remains; default a third of the ttl. */
  renewBeforeMs: number;
  /** How long the previous token stays valid after the new one is published; default 0. */
  overlapMs: number;
  historyLimit: number;
  /** A cron schedule for rotations, besides renewBefore. */
  schedule?: { expression: string; timeZone?: string };
  /** What a replayed refresh token leads to besides revoking its grant: replacing the current token too. */
  onSuspiciousUse: 'alert' | 'revoke';
  /** Workloads restarted after each rotation. */
  workloads: { kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }[];
  secret: {
    name: string;
    keys: { token: string; refreshToken: string; expiresAt: string; previous?: string };
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
}

/** The hash recorded with each version, to notice that the spec asks for a different token. */
export function shapeHash(shape: TokenShape): string {
  return stableHash(shape).slice(0, 16);
}

/**
 * The default renewBefore: a third of the lifetime (like cert-manager's renewal at 2/3), and at
 * least the overlap, so the previous token is still valid for its whole overlap window.
 */
export function defaultRenewBefore(ttlMs: number, overlapMs = 0): number {
  return Math.max(Math.floor(ttlMs / 3), overlapMs);
}
