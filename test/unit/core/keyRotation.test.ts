import { describe, expect, it } from 'vitest';
import {
  COMPROMISED_KEYS_KEPT,
  decideKeyRotation,
  isLeakedRequest,
  withCompromised,
  type KeyRotationDecision,
  type KeyRotationInput,
  type KeyVersionFacts,
} from '../../../src/core/keyRotation.ts';
import { signingKeyOf, statusSignsFrom } from '../../../src/core/keySigner.ts';
import { checkRotationSettings } from '../../../src/core/rotationSettings.ts';
import { HOUR, T0, at } from '../../support/builders.ts';

const MINUTE = 60_000;
const EVERY = 24 * HOUR;
const VERIFY_FOR = 2 * HOUR;

/** `key(2, createdAt(-3 * HOUR))`: version 2 with kid `kid-2`, made at T0 unless told. */
type KeyOption = (k: KeyVersionFacts) => KeyVersionFacts;
const createdAt =
  (offsetMs: number): KeyOption =>
  (k) => ({ ...k, createdAt: at(offsetMs).toISOString() });
function key(version: number, ...options: KeyOption[]): KeyVersionFacts {
  const base = { version, kid: `kid-${version}`, createdAt: T0.toISOString() };
  return options.reduce((k, option) => option(k), base);
}

/** `input(keys, requested('x'), handled('x'))`: every 24h, verifyFor 2h, now T0. */
type InputOption = (i: KeyRotationInput) => KeyRotationInput;
const requested =
  (value: string): InputOption =>
  (i) => ({ ...i, requested: value });
const handled =
  (value: string): InputOption =>
  (i) => ({ ...i, handled: value });
const claimed =
  (fromKid: string, reason: 'Scheduled' | 'Requested' | 'Compromised', atMs: number): InputOption =>
  (i) => ({ ...i, claim: { fromKid, reason, at: at(atMs).toISOString() } });
const firstKey = (): InputOption => (i) => ({ ...i, firstKey: true });
const publishAhead =
  (ms: number): InputOption =>
  (i) => ({ ...i, publishAheadMs: ms });
/** `compromised('kid-2', -MINUTE)`: kid-2 (version 2) recorded as compromised at T0 - 1m. */
const compromised =
  (kid: string, atMs: number): InputOption =>
  (i) => ({
    ...i,
    compromised: [
      ...(i.compromised ?? []),
      { kid, version: Number(kid.slice(4)), at: at(atMs).toISOString() },
    ],
  });
function input(keys: KeyVersionFacts[], ...options: InputOption[]): KeyRotationInput {
  const base: KeyRotationInput = { now: T0, keys, everyMs: EVERY, verifyForMs: VERIFY_FOR };
  return options.reduce((i, option) => option(i), base);
}

/** The decision's essentials in one line each, for readable tables (`!`: compromised). */
function summary(decision: KeyRotationDecision) {
  return {
    rotate: decision.rotate,
    handle: decision.handle,
    compromise: decision.compromise?.map((c) => `${c.kid}@${c.at}`),
    retireBelow: decision.retireBelow,
    states: decision.keys.map(
      (k) =>
        `${k.version}:${k.state}${k.compromised ? '!' : ''}${k.signsAt ? `>${k.signsAt.toISOString()}` : ''}${k.retireAt ? `@${k.retireAt.toISOString()}` : ''}`,
    ),
    nextRotationAt: decision.nextRotationAt?.toISOString(),
    nextDueAt: decision.nextDueAt?.toISOString(),
  };
}

const iso = (offsetMs: number) => at(offsetMs).toISOString();

type Summary = Omit<ReturnType<typeof summary>, 'compromise'> & { compromise?: string[] };

const cases: { name: string; input: KeyRotationInput; expected: Summary }[] = [
  {
    name: 'publishAhead: a version made 5m ago is published; the one before signs until it is 10m old',
    input: input([key(1, createdAt(-25 * HOUR)), key(2, createdAt(-5 * MINUTE))], publishAhead(10 * MINUTE)),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: [`2:published>${iso(5 * MINUTE)}`, '1:active'],
      nextRotationAt: iso(EVERY - 5 * MINUTE),
      nextDueAt: iso(5 * MINUTE),
    },
  },
  {
    name: 'publishAhead: once the new version is 10m old it signs; the old one verifies for verifyFor after that',
    input: input([key(1, createdAt(-25 * HOUR)), key(2, createdAt(-10 * MINUTE))], publishAhead(10 * MINUTE)),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['2:active', `1:verify-only@${iso(VERIFY_FOR)}`],
      nextRotationAt: iso(EVERY - 10 * MINUTE),
      nextDueAt: iso(VERIFY_FOR),
    },
  },
  {
    name: 'publishAhead: two rotations in a row; the oldest signs until the middle one is 10m old',
    input: input(
      [key(1, createdAt(-25 * HOUR)), key(2, createdAt(-8 * MINUTE)), key(3, createdAt(-MINUTE))],
      publishAhead(10 * MINUTE),
    ),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: [`3:published>${iso(9 * MINUTE)}`, `2:published>${iso(2 * MINUTE)}`, '1:active'],
      nextRotationAt: iso(EVERY - MINUTE),
      nextDueAt: iso(2 * MINUTE),
    },
  },
  {
    name: 'publishAhead: a leak retires every older version, so the new one signs at once',
    input: input(
      [key(1, createdAt(-25 * HOUR)), key(2, createdAt(-MINUTE))],
      publishAhead(10 * MINUTE),
      handled('leaked'),
      requested('leaked'),
      compromised('kid-1', -MINUTE),
    ),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: 2,
      states: ['2:active', `1:retired!@${iso(-MINUTE)}`],
      nextRotationAt: iso(EVERY - MINUTE),
      nextDueAt: iso(EVERY - MINUTE),
    },
  },
  {
    name: 'one young key: it signs; next due when it is `every` old',
    input: input([key(1, createdAt(-HOUR))]),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'the signing key is older than every: scheduled rotation',
    input: input([key(1, createdAt(-25 * HOUR))]),
    expected: {
      rotate: { reason: 'Scheduled', resumed: false },
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(-HOUR),
      nextDueAt: undefined,
    },
  },
  {
    name: 'exactly every old: due now',
    input: input([key(1, createdAt(-EVERY))]),
    expected: {
      rotate: { reason: 'Scheduled', resumed: false },
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(0),
      nextDueAt: undefined,
    },
  },
  {
    name: 'a new rotate-key value: requested rotation, the value handled',
    input: input([key(1, createdAt(-HOUR))], requested('1700000000'), handled('1600000000')),
    expected: {
      rotate: { reason: 'Requested', resumed: false },
      handle: '1700000000',
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'the value already handled: nothing, once per value',
    input: input([key(1, createdAt(-HOUR))], requested('1700000000'), handled('1700000000')),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'a blank value is no request',
    input: input([key(1, createdAt(-HOUR))], requested('  ')),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'the first key was just made: it satisfies a pending request, which is recorded as handled',
    input: input([key(1)], requested('from-the-manifest'), firstKey()),
    expected: {
      rotate: undefined,
      handle: 'from-the-manifest',
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(EVERY),
      nextDueAt: iso(EVERY),
    },
  },
  {
    name: 'request and schedule due together: one rotation, reason Requested',
    input: input([key(1, createdAt(-30 * HOUR))], requested('now')),
    expected: {
      rotate: { reason: 'Requested', resumed: false },
      handle: 'now',
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(-6 * HOUR),
      nextDueAt: undefined,
    },
  },
  {
    name: 'a claimed rotation whose key was never made (crash after the claim): resumed, once',
    input: input(
      [key(1, createdAt(-HOUR))],
      requested('r1'),
      handled('r1'),
      claimed('kid-1', 'Requested', -1000),
    ),
    expected: {
      rotate: { reason: 'Requested', resumed: true },
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'a claimed rotation that was made (crash before status): nothing again',
    input: input(
      [key(1, createdAt(-HOUR)), key(2, createdAt(-MINUTE))],
      requested('r1'),
      handled('r1'),
      claimed('kid-1', 'Requested', -MINUTE),
    ),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['2:active', `1:verify-only@${iso(VERIFY_FOR - MINUTE)}`],
      nextRotationAt: iso(EVERY - MINUTE),
      nextDueAt: iso(VERIFY_FOR - MINUTE),
    },
  },
  {
    name: "Vault's clock behind tokensmith's: the last claim's time floors the new key's age and the old key's window",
    input: input(
      [key(1, createdAt(-50 * HOUR)), key(2, createdAt(-30 * HOUR))],
      claimed('kid-1', 'Scheduled', -HOUR),
    ),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['2:active', `1:verify-only@${iso(HOUR)}`],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(HOUR),
    },
  },
  {
    name: 'the previous key within verifyFor of the rotation: verify-only, due at its retireAt',
    input: input([key(1, createdAt(-10 * HOUR)), key(2, createdAt(-HOUR))]),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['2:active', `1:verify-only@${iso(HOUR)}`],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(HOUR),
    },
  },
  {
    name: 'verifyFor has passed since the next key was made: retire below it',
    input: input([key(1, createdAt(-10 * HOUR)), key(2, createdAt(-VERIFY_FOR))]),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: 2,
      states: ['2:active', `1:retired@${iso(0)}`],
      nextRotationAt: iso(EVERY - VERIFY_FOR),
      nextDueAt: iso(EVERY - VERIFY_FOR),
    },
  },
  {
    name: 'three versions, the two older windows ended: retire below the signer',
    input: input([
      key(1, createdAt(-40 * HOUR)),
      key(2, createdAt(-30 * HOUR)),
      key(3, createdAt(-5 * HOUR)),
    ]),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: 3,
      states: ['3:active', `2:retired@${iso(-3 * HOUR)}`, `1:retired@${iso(-28 * HOUR)}`],
      nextRotationAt: iso(19 * HOUR),
      nextDueAt: iso(19 * HOUR),
    },
  },
  {
    name: 'three versions, only the oldest window ended: the middle one stays verify-only',
    input: input([key(1, createdAt(-40 * HOUR)), key(2, createdAt(-30 * HOUR)), key(3, createdAt(-HOUR))]),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: 2,
      states: ['3:active', `2:verify-only@${iso(HOUR)}`, `1:retired@${iso(-28 * HOUR)}`],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(HOUR),
    },
  },
  {
    name: 'creation times out of order: an older window still open keeps every later version',
    input: input([key(1, createdAt(-40 * HOUR)), key(2, createdAt(-HOUR)), key(3, createdAt(-5 * HOUR))]),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['3:active', `2:verify-only@${iso(-3 * HOUR)}`, `1:verify-only@${iso(HOUR)}`],
      nextRotationAt: iso(19 * HOUR),
      nextDueAt: iso(HOUR),
    },
  },
  {
    name: 'versions given in any order are sorted; the highest signs',
    input: input([key(2, createdAt(-HOUR)), key(1, createdAt(-10 * HOUR))]),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['2:active', `1:verify-only@${iso(HOUR)}`],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(HOUR),
    },
  },
  {
    name: 'no key yet: nothing to decide but the request',
    input: input([], requested('r1')),
    expected: {
      rotate: undefined,
      handle: 'r1',
      retireBelow: undefined,
      states: [],
      nextRotationAt: undefined,
      nextDueAt: undefined,
    },
  },
];

/** A leaked signing key: `rotate-key=leaked[:anything]`. */
const leakedCases: { name: string; input: KeyRotationInput; expected: Summary }[] = [
  {
    name: 'leaked: rotate (Compromised), record the signing key as compromised before acting',
    input: input([key(1, createdAt(-HOUR))], requested('leaked:1'), handled('1600000000')),
    expected: {
      rotate: { reason: 'Compromised', resumed: false },
      handle: 'leaked:1',
      compromise: [`kid-1@${iso(0)}`],
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'plain `leaked` is a leak too',
    input: input([key(1, createdAt(-HOUR))], requested('leaked')),
    expected: {
      rotate: { reason: 'Compromised', resumed: false },
      handle: 'leaked',
      compromise: [`kid-1@${iso(0)}`],
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'leaked while an older version is verify-only: it is compromised too (versions leave oldest first)',
    input: input([key(1, createdAt(-10 * HOUR)), key(2, createdAt(-HOUR))], requested('leaked:2')),
    expected: {
      rotate: { reason: 'Compromised', resumed: false },
      handle: 'leaked:2',
      compromise: [`kid-1@${iso(0)}`, `kid-2@${iso(0)}`],
      retireBelow: undefined,
      states: ['2:active', `1:verify-only@${iso(HOUR)}`],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(HOUR),
    },
  },
  {
    name: 'the leaked value already handled: nothing, once per value',
    input: input(
      [key(1, createdAt(-2 * HOUR)), key(2, createdAt(-MINUTE))],
      requested('leaked:1'),
      handled('leaked:1'),
    ),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['2:active', `1:verify-only@${iso(VERIFY_FOR - MINUTE)}`],
      nextRotationAt: iso(EVERY - MINUTE),
      nextDueAt: iso(VERIFY_FOR - MINUTE),
    },
  },
  {
    name: 'a value that only mentions a leak is a planned rotation',
    input: input([key(1, createdAt(-HOUR))], requested('not-leaked')),
    expected: {
      rotate: { reason: 'Requested', resumed: false },
      handle: 'not-leaked',
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'after the leaked rotation: every compromised version is retired at once, no verify-only period',
    input: input(
      [key(1, createdAt(-10 * HOUR)), key(2, createdAt(-HOUR)), key(3)],
      requested('leaked:2'),
      handled('leaked:2'),
      claimed('kid-2', 'Compromised', -1000),
      compromised('kid-1', -1000),
      compromised('kid-2', -1000),
    ),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: 3,
      states: ['3:active', `2:retired!@${iso(-1000)}`, `1:retired!@${iso(-1000)}`],
      nextRotationAt: iso(EVERY),
      nextDueAt: iso(EVERY),
    },
  },
  {
    name: 'crash between the leak being recorded and rotate(): resumed, nothing recorded again, the signer kept',
    input: input(
      [key(1, createdAt(-HOUR))],
      requested('leaked:1'),
      handled('leaked:1'),
      claimed('kid-1', 'Compromised', -1000),
      compromised('kid-1', -1000),
    ),
    expected: {
      rotate: { reason: 'Compromised', resumed: true },
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active!'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'a compromised version still signs without a claim: it is replaced',
    input: input([key(1, createdAt(-HOUR))], compromised('kid-1', -1000)),
    expected: {
      rotate: { reason: 'Compromised', resumed: true },
      handle: undefined,
      retireBelow: undefined,
      states: ['1:active!'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'a compromised version retired long ago: only remembered',
    input: input([key(3, createdAt(-HOUR))], compromised('kid-2', -10 * HOUR)),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: undefined,
      states: ['3:active'],
      nextRotationAt: iso(23 * HOUR),
      nextDueAt: iso(23 * HOUR),
    },
  },
  {
    name: 'a compromised version above an uncompromised verify-only one: both leave now (oldest first)',
    input: input(
      [key(1, createdAt(-10 * HOUR)), key(2, createdAt(-HOUR)), key(3)],
      compromised('kid-2', -1000),
    ),
    expected: {
      rotate: undefined,
      handle: undefined,
      retireBelow: 3,
      states: ['3:active', `2:retired!@${iso(-1000)}`, `1:retired@${iso(0)}`],
      nextRotationAt: iso(EVERY),
      nextDueAt: iso(EVERY),
    },
  },
  {
    name: 'a new issuer created with a leaked value keeps its brand-new key',
    input: input([key(1)], requested('leaked:manifest'), firstKey()),
    expected: {
      rotate: undefined,
      handle: 'leaked:manifest',
      retireBelow: undefined,
      states: ['1:active'],
      nextRotationAt: iso(EVERY),
      nextDueAt: iso(EVERY),
    },
  },
];

describe('decideKeyRotation', () => {
  it.each(cases)('$name', ({ input: given, expected }) => {
    expect(summary(decideKeyRotation(given))).toEqual(expected);
  });

  it.each(leakedCases)('leaked key: $name', ({ input: given, expected }) => {
    expect(summary(decideKeyRotation(given))).toEqual(expected);
  });

  it('never retires the signing key, however old', () => {
    const decision = decideKeyRotation(input([key(7, createdAt(-1000 * HOUR))]));
    expect(decision.retireBelow).toBeUndefined();
    expect(decision.keys).toEqual([
      { version: 7, kid: 'kid-7', createdAt: iso(-1000 * HOUR), state: 'active' },
    ]);
  });

  it('after a rotation, the new key is not due again until every has passed', () => {
    const before = input([key(1, createdAt(-25 * HOUR))], claimed('kid-0', 'Scheduled', -50 * HOUR));
    expect(decideKeyRotation(before).rotate?.reason).toBe('Scheduled');
    const after = {
      ...before,
      keys: [...before.keys, key(2)],
      claim: { fromKid: 'kid-1', reason: 'Scheduled' as const, at: iso(0) },
    };
    const decision = decideKeyRotation(after);
    expect(decision.rotate).toBeUndefined();
    expect(decision.nextRotationAt).toEqual(at(EVERY));
    expect(decision.nextDueAt).toEqual(at(VERIFY_FOR));
  });
});

describe('isLeakedRequest', () => {
  it.each([
    ['leaked', true],
    ['leaked:1700000000', true],
    [' leaked :x', true],
    ['leaked:', true],
    ['1700000000', false],
    ['not-leaked', false],
    ['leakedx', false],
    ['Leaked', false],
    ['', false],
    [undefined, false],
  ])('%j → %s', (value, expected) => {
    expect(isLeakedRequest(value)).toBe(expected);
  });
});

describe('withCompromised', () => {
  const c = (n: number) => ({ kid: `kid-${n}`, version: n, at: iso(n) });
  it.each([
    { name: 'first compromise', existing: undefined, added: [c(1)], kids: [1] },
    { name: 'appended, oldest first', existing: [c(1)], added: [c(2), c(3)], kids: [1, 2, 3] },
    {
      name: 'a kid is recorded once (its first time kept)',
      existing: [c(1)],
      added: [c(1), c(2)],
      kids: [1, 2],
    },
    {
      name: 'bounded to the newest',
      existing: Array.from({ length: COMPROMISED_KEYS_KEPT }, (_, i) => c(i + 1)),
      added: [c(99)],
      kids: [...Array.from({ length: COMPROMISED_KEYS_KEPT - 1 }, (_, i) => i + 2), 99],
    },
  ])('$name', ({ existing, added, kids }) => {
    expect(withCompromised(existing, added).map((k) => k.version)).toEqual(kids);
  });
});

describe('signingKeyOf', () => {
  const keys = [key(1, createdAt(-25 * HOUR)), key(2, createdAt(-5 * MINUTE)), key(3, createdAt(-MINUTE))];
  it.each([
    { name: 'publishAhead 0: the newest signs', aheadMs: 0, compromised: [], version: 3 },
    { name: 'publishAhead 10m: the newest one 10m old', aheadMs: 10 * MINUTE, compromised: [], version: 1 },
    { name: 'publishAhead 4m: version 2 is old enough', aheadMs: 4 * MINUTE, compromised: [], version: 2 },
    {
      name: 'the old enough one compromised: the oldest young one',
      aheadMs: 10 * MINUTE,
      compromised: ['kid-1'],
      version: 2,
    },
    { name: 'only the newest is left', aheadMs: 10 * MINUTE, compromised: ['kid-1', 'kid-2'], version: 3 },
    {
      name: 'all compromised: none',
      aheadMs: 0,
      compromised: ['kid-1', 'kid-2', 'kid-3'],
      version: undefined,
    },
  ])('$name', ({ aheadMs, compromised, version }) => {
    const signer = signingKeyOf(keys, {
      now: T0,
      signsFrom: (k) => new Date(k.createdAt).getTime() + aheadMs,
      compromisedKids: new Set(compromised),
    });
    expect(signer?.version).toBe(version);
  });
  it('picks the only key at once, however young', () => {
    expect(signingKeyOf([key(1)], { now: T0, signsFrom: () => T0.getTime() + HOUR })?.version).toBe(1);
  });
  it('by the issuer status: a published key from its signsAt, one the status does not show never', () => {
    const signsFrom = statusSignsFrom([
      { kid: 'kid-4', state: 'published', signsAt: iso(MINUTE) },
      { kid: 'kid-3', state: 'published', signsAt: iso(-MINUTE) },
      { kid: 'kid-2', state: 'active' },
      { kid: 'kid-1', state: 'verify-only' },
      { kid: 'kid-0', state: 'retired' },
    ]);
    expect([0, 1, 2, 3, 4, 5].map((v) => signsFrom(key(v)))).toEqual([
      Infinity,
      0,
      0,
      at(-MINUTE).getTime(),
      at(MINUTE).getTime(),
      Infinity,
    ]);
    const all = [1, 2, 3, 4, 5].map((v) => key(v));
    expect(signingKeyOf(all, { now: T0, signsFrom })?.version).toBe(3);
    expect(signingKeyOf(all, { now: at(2 * MINUTE), signsFrom })?.version).toBe(4);
  });
  it("a key made by a rotation tokensmith claimed signs publishAhead after the claim, whatever Vault's clock says", () => {
    const decision = decideKeyRotation(
      input(
        [key(1, createdAt(-25 * HOUR)), key(2, createdAt(-3 * HOUR))],
        publishAhead(10 * MINUTE),
        claimed('kid-1', 'Requested', -MINUTE),
      ),
    );
    expect(decision.keys.map((k) => [k.version, k.state, k.signsAt?.toISOString()])).toEqual([
      [2, 'published', iso(9 * MINUTE)],
      [1, 'active', undefined],
    ]);
  });
});

describe('checkRotationSettings', () => {
  const text = { every: '720h', verifyFor: '48h', publishAhead: '10m', maxTtl: '24h' };
  it.each([
    {
      name: 'verifyFor covers maxTtl',
      everyMs: EVERY,
      verifyForMs: 48 * HOUR,
      maxTtlMs: 24 * HOUR,
      message: undefined,
    },
    {
      name: 'verifyFor equal to maxTtl',
      everyMs: EVERY,
      verifyForMs: HOUR,
      maxTtlMs: HOUR,
      message: undefined,
    },
    {
      name: 'verifyFor shorter than maxTtl',
      everyMs: EVERY,
      verifyForMs: HOUR,
      maxTtlMs: 24 * HOUR,
      message:
        'signing.rotation.verifyFor (48h) must cover allowed.maxTtl (24h), or tokens would stop verifying before they expire',
    },
    {
      name: 'every of zero',
      everyMs: 0,
      verifyForMs: 48 * HOUR,
      maxTtlMs: 24 * HOUR,
      message: 'signing.rotation.every (720h) must be longer than 0',
    },
    {
      name: 'publishAhead as long as every',
      everyMs: 10 * MINUTE,
      verifyForMs: 48 * HOUR,
      maxTtlMs: 24 * HOUR,
      message:
        'signing.rotation.publishAhead (10m) must be shorter than signing.rotation.every (720h), or a new key would never sign before the next one is made',
    },
  ])('$name', ({ everyMs, verifyForMs, maxTtlMs, message }) => {
    expect(checkRotationSettings({ everyMs, verifyForMs, publishAheadMs: 10 * MINUTE, maxTtlMs, text })).toBe(
      message,
    );
  });
});
