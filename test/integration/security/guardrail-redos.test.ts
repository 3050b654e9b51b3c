/**
 * A hostile guardrail pattern cannot stall the controller. A ClusterTokenIssuer whose allowed
 * scope is `*a*a*a*a*a*b` and a policy asking for a scope of 128 × "a" made the old, regex-based
 * matcher backtrack for 48 s, freezing the event loop (the Lease was lost, and the standby froze
 * next). Now the policy is refused at once, and a healthy policy created right after it is issued
 * as quickly as usual.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, uniqueName } from '../../support/environment.ts';
import { enableEngine, startTestOperator, testConfig, type TestOperator } from '../../support/operator.ts';
import {
  createClusterIssuer,
  createPolicy,
  createReadyClusterIssuer,
  waitForIssuer,
  waitForPolicy,
} from '../../support/resources.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

let namespace: string;
let operator: TestOperator;
let healthy: string;
const hostile = uniqueName('redos-hostile');

beforeAll(async () => {
  namespace = await createNamespace('redos');
  const transitMount = await enableEngine('transit', 'transit');
  operator = await startTestOperator(testConfig({ namespace, transitMount }));
  healthy = await createReadyClusterIssuer('redos-healthy', transitMount);
  await createClusterIssuer(hostile, {
    issuer: 'https://tokens.redos.example',
    signing: { transitMount },
    allowed: { scopes: ['*a*a*a*a*a*b'] },
  });
  await waitForIssuer(hostile, 'True/KeyReady');
});

afterAll(async () => {
  await operator.stop();
});

describe('a hostile guardrail pattern', () => {
  it('is answered at once, and other policies keep being served', async () => {
    await createPolicy(namespace, 'victim', {
      issuerRef: { name: hostile },
      token: { type: 'opaque', ttl: '1h', scopes: ['a'.repeat(128)] },
      secret: { name: 'victim' },
    });
    await createPolicy(namespace, tokenPolicy('bystander', onIssuer(healthy)));
    // Generous bounds for a loaded machine; the old matcher needed 48 s for the first alone.
    const refused = await waitForPolicy(namespace, 'victim', 'False/GuardrailViolated', 10_000);
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain('is not allowed');
    await waitForPolicy(namespace, 'bystander', 'True/Issued', 10_000);
  });
});
