import { describe, expect, it } from 'vitest';
import { planNextStep, type PlanInput, type PlanStep } from '../../../src/core/plan.ts';
import type { PolicyTokenRecord, TokenVersionRecord } from '../../../src/core/records.ts';
import {
  HOUR,
  T0,
  at,
  expiresIn,
  pending,
  record,
  retiring,
  revoked,
  version,
  withSpec,
} from '../../support/builders.ts';

function input(rec: PolicyTokenRecord | undefined, overrides: Partial<PlanInput> = {}): PlanInput {
  const current = rec?.versions.find((v) => v.version === rec.currentVersion);
  return {
    now: T0,
    record: rec,
    secretTokenHash: current?.tokenHash,
    secretInSync: current !== undefined,
    specHash: 'spec-a',
    renewBeforeMs: 8 * HOUR,
    overlapMs: 10 * 60_000,
    historyLimit: 3,
    requests: {},
    ...overrides,
  };
}

/** A JWT version signed by `kid`. */
const signedBy =
  (kid: string) =>
  (v: TokenVersionRecord): TokenVersionRecord => ({ ...v, type: 'jwt', kid });
const LEAKED = new Set(['kid-leaked']);

const cases: { name: string; input: PlanInput; step: PlanStep }[] = [
  {
    name: 'no record: mint the first token',
    input: input(undefined),
    step: { kind: 'mint', reason: 'Initial', handles: {} },
  },
  {
    name: 'healthy active token: nothing until renewal is due',
    input: input(record(1, version(1))),
    step: { kind: 'none', nextCheckAt: at(16 * HOUR) },
  },
  {
    name: 'renewal due (less than renewBefore left)',
    input: input(record(1, version(1, expiresIn(7 * HOUR)))),
    step: { kind: 'mint', reason: 'Renewal', handles: {} },
  },
  {
    name: 'active token expired',
    input: input(record(1, version(1, expiresIn(-1)))),
    step: { kind: 'mint', reason: 'Expired', handles: {} },
  },
  {
    name: 'spec changed what a token contains',
    input: input(record(1, version(1, withSpec('spec-old')))),
    step: { kind: 'mint', reason: 'SpecChanged', handles: {} },
  },
  {
    name: 'rotation requested by annotation',
    input: input(record(1, version(1)), { requests: { rotate: '1700000000' } }),
    step: { kind: 'mint', reason: 'Requested', handles: { rotate: '1700000000' } },
  },
  {
    name: 'schedule fire time due',
    input: input(record(1, version(1)), { requests: { scheduledAt: T0.toISOString() } }),
    step: { kind: 'mint', reason: 'Scheduled', handles: { schedule: T0.toISOString() } },
  },
  {
    name: 'several triggers at once: one rotation handles them all',
    input: input(record(1, version(1, withSpec('spec-old'))), {
      requests: { scheduledAt: T0.toISOString(), rotate: 'now' },
    }),
    step: { kind: 'mint', reason: 'SpecChanged', handles: { schedule: T0.toISOString(), rotate: 'now' } },
  },
  {
    name: 'current token compromised: mint a replacement that revokes it on activation',
    input: input(record(1, version(1)), { requests: { revoke: { value: 'current:1', scope: 'current' } } }),
    step: {
      kind: 'mint',
      reason: 'Compromised',
      handles: { revoke: 'current:1' },
      onActivate: 'revokeCurrent',
    },
  },
  {
    name: 'all tokens compromised',
    input: input(record(2, version(1, retiring(-60_000)), version(2)), {
      requests: { revoke: { value: 'all', scope: 'all' } },
    }),
    step: { kind: 'mint', reason: 'Compromised', handles: { revoke: 'all' }, onActivate: 'revokeAll' },
  },
  {
    name: 'previous token compromised: revoke the retiring ones now, no new token',
    input: input(record(2, version(1, retiring(-60_000)), version(2)), {
      requests: { revoke: { value: 'previous', scope: 'previous' } },
    }),
    step: { kind: 'revoke', versions: [1], reason: 'Compromised', handles: { revoke: 'previous' } },
  },
  {
    name: 'a compromise reported during a rotation: its activation revokes the current version at once',
    input: input(record(1, version(1), version(2, pending())), {
      secretTokenHash: 'hash-2',
      requests: { revoke: { value: 'current:9', scope: 'current' } },
    }),
    step: { kind: 'activate', version: 2, onActivate: 'revokeCurrent', handles: { revoke: 'current:9' } },
  },
  {
    name: 'a compromise waits for an in-flight rotation to finish first',
    input: input(record(1, version(1), version(2, pending())), {
      requests: { revoke: { value: 'current', scope: 'current' } },
    }),
    step: { kind: 'publish', version: 2 },
  },
  {
    name: 'leaked signing key signed the active JWT: replace it with no overlap',
    input: input(record(1, version(1, signedBy('kid-leaked'))), { compromisedKids: LEAKED }),
    step: { kind: 'mint', reason: 'KeyCompromised', handles: {}, onActivate: 'revokeCurrent' },
  },
  {
    name: 'leaked key and other requests at once: one replacement handles them all',
    input: input(record(1, version(1, signedBy('kid-leaked'))), {
      compromisedKids: LEAKED,
      requests: { rotate: 'now', scheduledAt: T0.toISOString() },
    }),
    step: {
      kind: 'mint',
      reason: 'KeyCompromised',
      handles: { rotate: 'now', schedule: T0.toISOString() },
      onActivate: 'revokeCurrent',
    },
  },
  {
    name: 'leaked key signed the active JWT that also expired: still KeyCompromised',
    input: input(record(1, version(1, signedBy('kid-leaked'), expiresIn(-1))), { compromisedKids: LEAKED }),
    step: { kind: 'mint', reason: 'KeyCompromised', handles: {}, onActivate: 'revokeCurrent' },
  },
  {
    name: 'leaked key signed a retiring JWT: revoke it now, before anything else',
    input: input(
      record(
        3,
        version(1, signedBy('kid-leaked'), retiring(-60_000)),
        version(2, signedBy('kid-ok'), retiring(-30_000)),
        version(3, signedBy('kid-leaked')),
      ),
      { compromisedKids: LEAKED },
    ),
    step: { kind: 'revoke', versions: [1], reason: 'KeyCompromised' },
  },
  {
    name: 'leaked key signed only a retiring JWT: revoke it, keep the active one',
    input: input(
      record(2, version(1, signedBy('kid-leaked'), retiring(-60_000)), version(2, signedBy('kid-new'))),
      {
        compromisedKids: LEAKED,
      },
    ),
    step: { kind: 'revoke', versions: [1], reason: 'KeyCompromised' },
  },
  {
    name: 'JWTs signed by other keys: a compromise elsewhere changes nothing',
    input: input(
      record(2, version(1, signedBy('kid-old'), retiring(-60_000)), version(2, signedBy('kid-new'))),
      {
        compromisedKids: LEAKED,
      },
    ),
    step: { kind: 'none', nextCheckAt: at(9 * 60_000) },
  },
  {
    name: 'opaque tokens carry no kid: never affected by a leaked key',
    input: input(record(1, version(1)), { compromisedKids: LEAKED }),
    step: { kind: 'none', nextCheckAt: at(16 * HOUR) },
  },
  {
    name: 'leaked key signed a revoked JWT: nothing to do',
    input: input(record(2, version(1, signedBy('kid-leaked'), revoked()), version(2, signedBy('kid-new'))), {
      compromisedKids: LEAKED,
    }),
    step: { kind: 'none', nextCheckAt: at(16 * HOUR) },
  },
  {
    name: 'pending replacement signed by a leaked key, not yet published: abandon it',
    input: input(
      record(1, version(1, signedBy('kid-leaked')), version(2, pending(), signedBy('kid-leaked'))),
      {
        compromisedKids: LEAKED,
      },
    ),
    step: { kind: 'revoke', versions: [2], reason: 'KeyCompromised' },
  },
  {
    name: 'pending replacement signed by the new key (crash after mint): publish it',
    input: input(record(1, version(1, signedBy('kid-leaked')), version(2, pending(), signedBy('kid-new'))), {
      compromisedKids: LEAKED,
    }),
    step: { kind: 'publish', version: 2 },
  },
  {
    name: 'pending version signed by a leaked key already in the Secret (crash after publish): activate, replace next',
    input: input(record(1, version(1), version(2, pending(), signedBy('kid-leaked'))), {
      compromisedKids: LEAKED,
      secretTokenHash: 'hash-2',
    }),
    step: { kind: 'activate', version: 2 },
  },
  {
    name: 'a revoke request and a leaked key: the request is acted on first, as asked',
    input: input(record(1, version(1, signedBy('kid-leaked'))), {
      compromisedKids: LEAKED,
      requests: { revoke: { value: 'all:1', scope: 'all' } },
    }),
    step: { kind: 'mint', reason: 'Compromised', handles: { revoke: 'all:1' }, onActivate: 'revokeAll' },
  },
  {
    name: 'healthy token: the next schedule fire time bounds the next check',
    input: input(record(1, version(1)), { nextScheduledAt: at(HOUR) }),
    step: { kind: 'none', nextCheckAt: at(HOUR) },
  },
  {
    name: 'current version revoked: replace it',
    input: input(record(1, version(1, revoked()))),
    step: { kind: 'mint', reason: 'Revoked', handles: {} },
  },
  {
    name: 'pending version not yet in the Secret: publish it',
    input: input(record(1, version(1), version(2, pending()))),
    step: { kind: 'publish', version: 2 },
  },
  {
    name: 'pending version already in the Secret (crash after publish): activate it',
    input: input(record(1, version(1), version(2, pending())), { secretTokenHash: 'hash-2' }),
    step: { kind: 'activate', version: 2 },
  },
  {
    name: 'pending version for an old spec: abandon it',
    input: input(record(1, version(1), version(2, pending(), withSpec('spec-old')))),
    step: { kind: 'revoke', versions: [2], reason: 'Abandoned' },
  },
  {
    name: 'pending version expired before it was published: abandon it',
    input: input(record(1, version(1), version(2, pending(), expiresIn(-1)))),
    step: { kind: 'revoke', versions: [2], reason: 'Abandoned' },
  },
  {
    name: 'Secret drifted from the active version: sync it',
    input: input(record(1, version(1)), { secretInSync: false, secretTokenHash: 'edited' }),
    step: { kind: 'sync', version: 1 },
  },
  {
    name: 'retiring version inside its overlap: wait for the overlap to end',
    input: input(record(2, version(1, retiring(-5 * 60_000)), version(2))),
    step: { kind: 'none', nextCheckAt: at(5 * 60_000) },
  },
  {
    name: 'retiring version past its overlap: revoke it',
    input: input(record(2, version(1, retiring(-10 * 60_000)), version(2))),
    step: { kind: 'revoke', versions: [1], reason: 'OverlapEnded' },
  },
  {
    name: 'more finished versions than historyLimit: prune the oldest',
    input: input(
      record(
        5,
        version(1, revoked()),
        version(2, revoked()),
        version(3, revoked()),
        version(4, revoked()),
        version(5),
      ),
    ),
    step: { kind: 'prune', versions: [1, 2] },
  },
  {
    name: 'a rotation recorded v2 as current: the Secret, still holding v1, gets it first',
    input: input(record(2, version(1, retiring(0)), version(2)), {
      secretTokenHash: 'hash-1',
      secretInSync: false,
    }),
    step: { kind: 'publish', version: 2 },
  },
  {
    name: 'the Secret gets the new version before a revoke=previous request revokes what it holds',
    input: input(record(2, version(1, retiring(0)), version(2)), {
      secretTokenHash: 'hash-1',
      secretInSync: false,
      requests: { revoke: { value: 'previous', scope: 'previous' } },
    }),
    step: { kind: 'publish', version: 2 },
  },
  {
    name: 'the Secret gets the new version before an overlap that is over is revoked',
    input: input(record(2, version(1, retiring(-HOUR)), version(2)), {
      secretTokenHash: 'hash-1',
      secretInSync: false,
    }),
    step: { kind: 'publish', version: 2 },
  },
  {
    name: 'a first issuance whose Secret write failed (no Secret, never reported): publish',
    input: input(record(1, version(1)), { secretTokenHash: undefined, secretInSync: false }),
    step: { kind: 'publish', version: 1 },
  },
  {
    name: 'a Secret deleted after the status reported its version: restore it (sync)',
    input: input(record(1, version(1)), {
      secretTokenHash: undefined,
      secretInSync: false,
      reportedVersion: 1,
    }),
    step: { kind: 'sync', version: 1 },
  },
  {
    name: 'a Secret holding a token tokensmith never issued: restore it (sync)',
    input: input(record(2, version(1, retiring(0)), version(2)), {
      secretTokenHash: 'hash-from-elsewhere',
      secretInSync: false,
    }),
    step: { kind: 'sync', version: 2 },
  },
];

describe('planNextStep', () => {
  it.each(cases)('$name', ({ input: given, step }) => {
    expect(planNextStep(given)).toEqual(step);
  });

  it('converges: applying each step in turn ends with one active token in the Secret', () => {
    // Simulates the reconciler with a perfect executor, from nothing to steady state.
    let rec: PolicyTokenRecord | undefined;
    let secretHash: string | undefined;
    const steps: string[] = [];
    for (let i = 0; i < 10; i++) {
      const step = planNextStep(
        input(rec, { secretTokenHash: secretHash, secretInSync: secretHash !== undefined }),
      );
      steps.push(step.kind);
      if (step.kind === 'none') break;
      if (step.kind === 'mint') rec = record(0, version(1, pending()));
      else if (step.kind === 'publish') secretHash = 'hash-1';
      else if (step.kind === 'activate' && rec) rec = { ...rec, currentVersion: 1, versions: [version(1)] };
    }
    expect(steps).toEqual(['mint', 'publish', 'activate', 'none']);
  });
});

describe('while minting is blocked', () => {
  const blocked = (rec: PolicyTokenRecord | undefined, overrides: Partial<PlanInput> = {}) =>
    input(rec, { mintBlocked: true, ...overrides });
  const revokeCurrent = { revoke: { value: 'current', scope: 'current' as const } };

  it.each<{ name: string; input: PlanInput; step: PlanStep }>([
    {
      name: 'no record: nothing to do, the wanted mint is reported',
      input: blocked(undefined),
      step: { kind: 'none', blockedMint: 'Initial' },
    },
    {
      name: 'revoke=current revokes the active version at once (no replacement first)',
      input: blocked(record(1, version(1)), { requests: revokeCurrent }),
      step: { kind: 'revoke', versions: [1], reason: 'Compromised', handles: { revoke: 'current' } },
    },
    {
      name: 'revoke=all revokes the active and the retiring versions at once',
      input: blocked(record(2, version(1, retiring(0)), version(2)), {
        requests: { revoke: { value: 'all', scope: 'all' } },
      }),
      step: { kind: 'revoke', versions: [1, 2], reason: 'Compromised', handles: { revoke: 'all' } },
    },
    {
      name: 'an overlap still ends',
      input: blocked(record(2, version(1, retiring(-HOUR)), version(2, expiresIn(HOUR)))),
      step: { kind: 'revoke', versions: [1], reason: 'OverlapEnded' },
    },
    {
      name: 'a version signed by a leaked key is revoked, not replaced',
      input: blocked(record(1, version(1, signedBy('kid-leaked'))), { compromisedKids: LEAKED }),
      step: { kind: 'revoke', versions: [1], reason: 'KeyCompromised' },
    },
    {
      name: 'a revoked token in the Secret is cleared',
      input: blocked(record(1, version(1, revoked())), { secretTokenHash: 'hash-1' }),
      step: { kind: 'clear' },
    },
    {
      name: 'an unpublished pending version is abandoned rather than published',
      input: blocked(record(1, version(1), version(2, pending()))),
      step: { kind: 'revoke', versions: [2], reason: 'Abandoned' },
    },
    {
      name: 'a pending version already in the Secret is activated',
      input: blocked(record(1, version(1), version(2, pending())), { secretTokenHash: 'hash-2' }),
      step: { kind: 'activate', version: 2 },
    },
    {
      name: 'drift is still repaired',
      input: blocked(record(1, version(1)), { secretInSync: false }),
      step: { kind: 'sync', version: 1 },
    },
    {
      name: 'renewal due: the mint waits, the expiry is the next check',
      input: blocked(record(1, version(1, expiresIn(2 * HOUR)))),
      step: { kind: 'none', nextCheckAt: at(2 * HOUR), blockedMint: 'Renewal' },
    },
  ])('$name', ({ input: given, step }) => {
    expect(planNextStep(given)).toEqual(step);
  });

  it('converges after revoke=current to no version and an empty Secret', async () => {
    const { withRevoked } = await import('../../../src/core/transitions.ts');
    let rec = record(1, version(1));
    let secretHash: string | undefined = 'hash-1';
    const steps: string[] = [];
    let requests: PlanInput['requests'] = revokeCurrent;
    for (let i = 0; i < 10; i++) {
      const step = planNextStep(blocked(rec, { secretTokenHash: secretHash, requests }));
      steps.push(step.kind === 'none' ? `none:${step.blockedMint ?? ''}` : step.kind);
      if (step.kind === 'none') break;
      if (step.kind === 'revoke') {
        rec = withRevoked(rec, step.versions, T0, 'Compromised');
        requests = {};
      } else if (step.kind === 'clear') secretHash = undefined;
    }
    expect(steps).toEqual(['revoke', 'clear', 'none:Revoked']);
  });
});

describe('a leaked signing key', () => {
  it('converges: the policy re-mints until no active or retiring version carries a compromised kid', async () => {
    const { withActivated, withMinted, withRevoked } = await import('../../../src/core/transitions.ts');
    // Version 2 is active, version 1 retiring; both were signed by the leaked key.
    let rec: PolicyTokenRecord = record(
      2,
      version(1, signedBy('kid-leaked'), retiring(-60_000)),
      version(2, signedBy('kid-leaked')),
    );
    let secretHash: string | undefined = 'hash-2';
    const steps: string[] = [];
    for (let i = 0; i < 10; i++) {
      const step = planNextStep(
        input(rec, { secretTokenHash: secretHash, secretInSync: true, compromisedKids: LEAKED }),
      );
      steps.push(`${step.kind}${'reason' in step ? `:${step.reason}` : ''}`);
      if (step.kind === 'none') break;
      if (step.kind === 'revoke') rec = withRevoked(rec, step.versions, T0, step.reason);
      else if (step.kind === 'mint') {
        const minted = {
          ...version(rec.lastVersion + 1, pending(), signedBy('kid-new')),
          mintReason: step.reason,
          ...(step.onActivate ? { onActivate: step.onActivate } : {}),
        };
        rec = withMinted(rec, minted, step.handles);
      } else if (step.kind === 'publish') secretHash = `hash-${step.version}`;
      else if (step.kind === 'activate') rec = withActivated(rec, step.version, T0);
    }
    expect(steps).toEqual(['revoke:KeyCompromised', 'mint:KeyCompromised', 'publish', 'activate', 'none']);
    expect(rec.versions.map((v) => [v.version, v.state, v.revokeReason, v.kid])).toEqual([
      [1, 'revoked', 'KeyCompromised', 'kid-leaked'],
      [2, 'revoked', 'KeyCompromised', 'kid-leaked'],
      [3, 'active', undefined, 'kid-new'],
    ]);
  });
});

describe('activation', () => {
  it('starts the overlap of the previous version, or revokes it at once after a compromise', async () => {
    const { withActivated } = await import('../../../src/core/transitions.ts');
    const normal = withActivated(
      record(2, version(1, retiring(-HOUR)), version(2), version(3, pending())),
      3,
      T0,
    );
    expect(normal.versions.map((v) => v.state)).toEqual(['retiring', 'retiring', 'active']);
    expect(normal.versions[1]?.retiringSince).toBe(T0.toISOString());

    const compromised = record(2, version(1, retiring(-HOUR)), version(2), {
      ...version(3, pending()),
      onActivate: 'revokeCurrent',
    });
    expect(withActivated(compromised, 3, T0).versions.map((v) => [v.state, v.revokeReason])).toEqual([
      ['retiring', undefined],
      ['revoked', 'Compromised'],
      ['active', undefined],
    ]);
    const all = {
      ...compromised,
      versions: compromised.versions.map((v) => ({ ...v, onActivate: 'revokeAll' as const })),
    };
    expect(withActivated(all, 3, T0).versions.map((v) => v.state)).toEqual(['revoked', 'revoked', 'active']);
  });
});
