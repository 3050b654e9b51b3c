/**
 * Invariant 7 end to end: two controllers share one Lease; only the leader acts on policies, and
 * when it stops the other takes over and carries on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createNamespace, uniqueName } from '../../support/environment.ts';
import {
  enableEngine,
  launchTestOperator,
  startTestOperator,
  testConfig,
  type TestOperator,
} from '../../support/operator.ts';
import { createPolicy, createReadyClusterIssuer, waitForPolicy } from '../../support/resources.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

const operators: TestOperator[] = [];

afterAll(async () => {
  await Promise.all(operators.map((o) => o.stop()));
});

describe('two replicas', () => {
  it('lets only the leader act, and the other take over when it stops', { timeout: 90_000 }, async () => {
    const namespace = await createNamespace('leader');
    const transitMount = await enableEngine('transit', 'transit');
    const base = testConfig({ namespace, transitMount });
    const lease = uniqueName('tokensmith-controller');
    const election = (identity: string) => ({ enabled: true, namespace, name: lease, identity });

    const a = await startTestOperator({ ...base, leaderElection: election('replica-a') });
    operators.push(a);
    const b = launchTestOperator({ ...base, leaderElection: election('replica-b') });
    operators.push(b);

    const issuer = await createReadyClusterIssuer('leader', transitMount);
    await createPolicy(namespace, tokenPolicy('first', onIssuer(issuer)));
    await waitForPolicy(namespace, 'first', 'True/Issued');
    expect(a.logs()).toContain('executing step');
    // The follower campaigned, found the Lease held by replica-a, and has done nothing.
    await expect
      .poll(() => b.logs(), { timeout: 10_000 })
      .toMatch(/"holder":"replica-a".*leader lease is held; waiting/);
    expect(b.logs()).not.toContain('became leader');
    expect(b.logs()).not.toContain('executing step');

    await a.stop();
    await b.operator.ready; // replica-b leads now
    await createPolicy(namespace, tokenPolicy('second', onIssuer(issuer)));
    await waitForPolicy(namespace, 'second', 'True/Issued', 60_000);
    expect(b.logs()).toContain('became leader');
    expect(b.logs()).toContain('executing step');
  });
});
