/**
 * A tenant cannot turn tokensmith into a busy loop through its policy's schedule, against the real
 * servers: a per-second cron schedule and `renewBefore: 0s` are refused at apply; what only the
 * controller can judge — a schedule that fires more often than --min-rotation-interval (5m here),
 * a date that never comes (`0 0 30 2 *`), ttl − renewBefore below the minimum, oversized claims —
 * is Ready=False (InvalidSpec) once, with no retry loop and no token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenPolicySpec } from '../../../src/api/v1alpha1.generated.ts';
import { uniqueName } from '../../support/environment.ts';
import { startInNamespace, type TestOperator } from '../../support/operator.ts';
import {
  createReadyClusterIssuer,
  createPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';

let namespace: string;
let operator: TestOperator;
let issuer: string;

beforeAll(async () => {
  let transitMount: string;
  ({ namespace, transitMount, operator } = await startInNamespace('bounds', {
    minRotationIntervalMs: 5 * 60_000,
  }));
  issuer = await createReadyClusterIssuer('bounds', transitMount, { allowed: { claims: ['blob'] } });
});

afterAll(async () => {
  await operator.stop();
});

function spec(
  rotation: TokenPolicySpec['rotation'],
  token: Partial<TokenPolicySpec['token']> = {},
): (name: string) => TokenPolicySpec {
  return (name) => ({
    issuerRef: { name: issuer },
    token: { type: 'opaque', ttl: '1h', ...token },
    ...(rotation ? { rotation } : {}),
    secret: { name },
  });
}

/** Reconcile attempts the controller logged for one policy. */
const attempts = (name: string) =>
  operator
    .logs()
    .split('\n')
    .filter((l) => l.includes('"reconcile failed"') && l.includes(`${namespace}/${name}"`)).length;

describe('rotation bounds', () => {
  it.each<[string, (name: string) => TokenPolicySpec, RegExp]>([
    [
      'a per-second schedule',
      spec({ schedule: '* * * * * *' }),
      /rotation.schedule may fire at most once a minute/,
    ],
    ['a twice-a-minute schedule', spec({ schedule: '0,30 * * * * *' }), /may fire at most once a minute/],
    ['renewBefore 0s', spec({ renewBefore: '0s' }), /rotation.renewBefore must be longer than 0s/],
  ])('refuses %s at apply', async (_what, make, message) => {
    const name = uniqueName('p');
    await expect(createPolicy(namespace, name, make(name))).rejects.toThrow(message);
  });

  it.each<[string, (name: string) => TokenPolicySpec, RegExp]>([
    [
      'a schedule that fires more often than --min-rotation-interval',
      spec({ schedule: '*/2 * * * *' }),
      /fires 2m apart, more often than the minimum rotation interval 5m/,
    ],
    ['a date that never comes', spec({ schedule: '0 0 30 2 *' }), /never fires: no date matches it/],
    [
      'ttl − renewBefore below the minimum',
      spec({ renewBefore: '58m' }),
      /token.ttl minus rotation.renewBefore is 2m: the token would rotate more often than the minimum rotation interval 5m/,
    ],
    [
      'claims too large for a header',
      spec(undefined, { type: 'jwt', jwt: { audience: ['api'], claims: { blob: 'x'.repeat(5000) } } }),
      /token.jwt.claims take \d+ bytes as JSON; at most 4096 are allowed/,
    ],
  ])('refuses %s once, without a retry loop', async (_what, make, message) => {
    const name = uniqueName('p');
    await createPolicy(namespace, name, make(name));
    const policy = await waitForPolicy(namespace, name, 'False/InvalidSpec');
    expect(policy.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(message);
    expect(await secretData(namespace, name)).toBeUndefined();
    const seen = attempts(name);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // A terminal error is not retried: nothing more happens until the policy changes.
    expect(attempts(name)).toBe(seen);
  });
});
