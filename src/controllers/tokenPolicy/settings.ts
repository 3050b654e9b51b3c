/** Resolves a TokenPolicy spec into PolicySettings: the API defaults, made explicit. */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { formatDuration, parseDuration } from '../../core/duration.ts';
import { defaultSubject } from '../../core/guardrails.ts';
import { scheduleProblem } from '../../core/schedule.ts';
import {
  DEFAULT_HISTORY_LIMIT,
  DEFAULT_REFRESH_TTL_FACTOR,
  DEFAULT_SECRET_KEYS,
  defaultRenewBefore,
  type PolicySettings,
} from '../../core/settings.ts';
import { TokensmithError } from '../../errors.ts';

/** The largest extra claims of a JWT, as JSON. */
export const MAX_CLAIMS_BYTES = 4096;

/** The longest refresh token lifetime (the CRD refuses more; a default of 30 × ttl is capped). */
export const MAX_REFRESH_TTL_MS = 8760 * 3_600_000;

/**
 * Settings of `policy`, or a TokensmithError('InvalidSpec') for what the CRD schema could not
 * refuse (it runs before this, so this is the second line).
 */
export function policySettings(
  policy: TokenPolicy,
  options: {
    /** The shortest time allowed between two rotations (--min-rotation-interval). Default 0. */
    minRotationIntervalMs?: number;
  } = {},
): PolicySettings {
  const minIntervalMs = options.minRotationIntervalMs ?? 0;
  const namespace = policy.metadata?.namespace ?? '';
  const name = policy.metadata?.name ?? '';
  const { spec } = policy;
  try {
    const ttlMs = parseDuration(spec.token.ttl);
    const refresh = spec.token.refresh?.enabled
      ? {
          ttlMs: spec.token.refresh.ttl
            ? parseDuration(spec.token.refresh.ttl)
            : Math.min(ttlMs * DEFAULT_REFRESH_TTL_FACTOR, MAX_REFRESH_TTL_MS),
        }
      : undefined;
    if (refresh && refresh.ttlMs > MAX_REFRESH_TTL_MS)
      throw new RangeError('token.refresh.ttl must be at most 8760h (one year)');
    const rotation = spec.rotation;
    const overlapMs = rotation?.overlap ? parseDuration(rotation.overlap) : 0;
    const renewBeforeMs = rotation?.renewBefore
      ? parseDuration(rotation.renewBefore)
      : defaultRenewBefore(ttlMs, overlapMs);
    if (renewBeforeMs >= ttlMs) throw new RangeError('rotation.renewBefore must be shorter than token.ttl');
    if (renewBeforeMs <= 0) throw new RangeError('rotation.renewBefore must be longer than 0s');
    if (ttlMs - renewBeforeMs < minIntervalMs) {
      throw new RangeError(
        `token.ttl minus rotation.renewBefore is ${formatDuration(ttlMs - renewBeforeMs)}: the token would rotate ` +
          `more often than the minimum rotation interval ${formatDuration(minIntervalMs)} (tokensmith's --min-rotation-interval)`,
      );
    }
    const schedule = rotation?.schedule
      ? { expression: rotation.schedule, ...(rotation.timeZone ? { timeZone: rotation.timeZone } : {}) }
      : undefined;
    if (schedule) {
      const problem = scheduleProblem(schedule, minIntervalMs);
      if (problem) throw new RangeError(problem);
    }
    const claimsSize = JSON.stringify(spec.token.jwt?.claims ?? {}).length;
    if (claimsSize > MAX_CLAIMS_BYTES) {
      throw new RangeError(
        `token.jwt.claims take ${claimsSize} bytes as JSON; at most ${MAX_CLAIMS_BYTES} are allowed (tokens travel in headers)`,
      );
    }
    const keys = spec.secret.keys;
    return {
      shape: {
        type: spec.token.type,
        ...(spec.token.type === 'opaque'
          ? {
              opaque: {
                bytes: spec.token.opaque?.bytes ?? 32,
                prefix: spec.token.opaque?.prefix ?? '',
                encoding: spec.token.opaque?.encoding ?? 'base64url',
              },
            }
          : {
              jwt: {
                audience: [...(spec.token.jwt?.audience ?? [])],
                subject: spec.token.jwt?.subject ?? defaultSubject(namespace, name),
                claims: { ...(spec.token.jwt?.claims ?? {}) },
              },
            }),
        scopes: [...(spec.token.scopes ?? [])].sort(),
        ttlMs,
        ...(refresh ? { refresh } : {}),
        issuer: { kind: spec.issuerRef.kind ?? 'ClusterTokenIssuer', name: spec.issuerRef.name },
      },
      renewBeforeMs,
      overlapMs,
      historyLimit: rotation?.historyLimit ?? DEFAULT_HISTORY_LIMIT,
      ...(schedule ? { schedule } : {}),
      onSuspiciousUse: spec.onSuspiciousUse === 'revoke' ? 'revoke' : 'alert',
      workloads: (spec.workloads ?? []).map((w) => ({ kind: w.kind, name: w.name })),
      secret: {
        name: spec.secret.name,
        keys: {
          token: keys?.token ?? DEFAULT_SECRET_KEYS.token,
          refreshToken: keys?.refreshToken ?? DEFAULT_SECRET_KEYS.refreshToken,
          expiresAt: keys?.expiresAt ?? DEFAULT_SECRET_KEYS.expiresAt,
          ...(keys?.previous ? { previous: keys.previous } : {}),
        },
        labels: { ...(spec.secret.labels ?? {}) },
        annotations: { ...(spec.secret.annotations ?? {}) },
      },
    };
  } catch (err) {
    throw new TokensmithError('InvalidSpec', (err as Error).message);
  }
}
