/**
 * The soak's invariant report (bench/soak.ts), as a pure function of what it gathered: the Vault
 * records at the end and the tokens the Secret checker saw (with the token-time of each sighting).
 * Unit-tested with records built by hand (test/unit/bench/soakInvariants.test.ts), so each check is
 * seen to fail when it should.
 */
import type { PolicyTokenRecord } from '../src/core/records.ts';

export interface SoakEvidence {
  /** The policies' records at the end, by policy name (undefined: none could be read). */
  records: ReadonlyMap<string, PolicyTokenRecord | undefined>;
  /** By policy name: token hash → the token-times it was seen in the Secret. */
  seen: ReadonlyMap<string, ReadonlyMap<string, readonly number[]>>;
  /** How stale a sighting may be (a list is a snapshot of up to two checker ticks ago). */
  slackMs: number;
  /** ttl − renewBefore: how often a policy renews. */
  renewIntervalMs: number;
  /** Token-time at the end. */
  endedAt: number;
}

export interface SoakFindings {
  violations: string[];
  rotations: number;
  /** Renewals due since each policy's first issuance, summed. */
  due: number;
  observations: number;
  mintReasons: Record<string, number>;
}

export function soakInvariants(evidence: SoakEvidence): SoakFindings {
  const { slackMs, renewIntervalMs } = evidence;
  const violations: string[] = [];
  const reasons: Record<string, number> = {};
  let rotations = 0;
  let due = 0;
  let observations = 0;
  for (const [name, record] of evidence.records) {
    if (!record) {
      violations.push(`${name}: no record in Vault`);
      continue;
    }
    const byHash = new Map(record.versions.map((v) => [v.tokenHash, v]));
    for (const [hash, times] of evidence.seen.get(name) ?? []) {
      observations += times.length;
      const v = byHash.get(hash);
      if (!v) {
        violations.push(`${name}: a Secret held a token Vault never recorded`);
        continue;
      }
      const last = Math.max(...times);
      if (last > Date.parse(v.expiresAt) + slackMs)
        violations.push(`${name}: version ${v.version} seen in the Secret after it expired`);
      if (v.revokedAt && last > Date.parse(v.revokedAt) + slackMs)
        violations.push(`${name}: version ${v.version} seen in the Secret after it was revoked`);
    }
    const sorted = [...record.versions].sort((a, b) => a.version - b.version);
    for (const v of sorted) reasons[v.mintReason ?? '?'] = (reasons[v.mintReason ?? '?'] ?? 0) + 1;
    rotations += Math.max(0, record.lastVersion - 1);
    // Never twice for one due time: consecutive renewals a renewal interval apart.
    for (let i = 1; i < sorted.length; i++) {
      const [prev, next] = [sorted[i - 1], sorted[i]];
      if (!prev || !next || next.mintReason !== 'Renewal') continue;
      const gap = Date.parse(next.issuedAt) - Date.parse(prev.issuedAt);
      if (gap < renewIntervalMs * 0.9)
        violations.push(
          `${name}: versions ${prev.version} and ${next.version} minted ${(gap / 60_000).toFixed(1)} token-minutes apart (renewal every ${(renewIntervalMs / 60_000).toFixed(0)})`,
        );
    }
    // Never lost: as many renewals as intervals since the first issuance (one may be in flight).
    const first = sorted[0];
    if (first) {
      const owed = Math.floor((evidence.endedAt - Date.parse(first.issuedAt)) / renewIntervalMs);
      due += owed;
      const renewals = sorted.filter((v) => v.mintReason === 'Renewal').length;
      if (renewals < owed - 1)
        violations.push(`${name}: ${renewals} renewals where ${owed} were due (rotations lost)`);
    }
    if (record.lastVersion !== sorted.at(-1)?.version)
      violations.push(`${name}: lastVersion ${record.lastVersion} is not its newest recorded version`);
  }
  return { violations, rotations, due, observations, mintReasons: reasons };
}
