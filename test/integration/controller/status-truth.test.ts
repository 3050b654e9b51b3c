/**
 * Status and Events that tell the truth, against the real servers: a rotation with
 * `secret.keys.previous` reports no drift when the previous token leaves the Secret at the end of
 * its overlap (it used to emit `SecretRestored` on every rotation), and `NEXT ROTATION` of a cron
 * policy is the schedule's next fire time when that comes before renewal (it used to show renewal
 * only).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInNamespace, type TestOperator } from '../../support/operator.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  eventsAbout,
  readPolicy,
  secretData,
  waitForPolicy,
} from '../../support/resources.ts';
import { onIssuer, overlap, schedule, secret, tokenPolicy, ttl } from '../../support/policies.ts';

let namespace: string;
let operator: TestOperator;
let issuer: string;

beforeAll(async () => {
  let transitMount: string;
  ({ namespace, transitMount, operator } = await startInNamespace('status-truth'));
  issuer = await createReadyClusterIssuer('status-truth', transitMount);
});

afterAll(async () => {
  await operator.stop();
});

describe('a rotation with keys.previous', () => {
  it('delivers the previous token during the overlap and removes it after, with no drift Event', async () => {
    await createPolicy(
      namespace,
      tokenPolicy(
        'with-previous',
        onIssuer(issuer),
        overlap('4s'),
        secret({ name: 'with-previous', keys: { previous: 'PREVIOUS_TOKEN' } }),
      ),
    );
    await waitForPolicy(namespace, 'with-previous', 'True/Issued');
    const first = (await secretData(namespace, 'with-previous'))?.TOKEN;
    await annotateObject(
      { plural: 'tokenpolicies', namespace, name: 'with-previous' },
      { 'tokensmith.dev/rotate': '1' },
    );
    await expect
      .poll(async () => (await secretData(namespace, 'with-previous'))?.PREVIOUS_TOKEN, { timeout: 10_000 })
      .toBe(first);
    await expect
      .poll(
        async () =>
          (await readPolicy(namespace, 'with-previous'))?.status?.versions?.find((v) => v.version === 1)
            ?.state,
        { timeout: 20_000 },
      )
      .toBe('revoked');
    expect(Object.keys((await secretData(namespace, 'with-previous')) ?? {}).sort()).toEqual([
      'TOKEN',
      'TOKEN_EXPIRES_AT',
    ]);
    const policy = await readPolicy(namespace, 'with-previous');
    const events = await eventsAbout(namespace, policy?.metadata?.uid);
    expect(events.filter((e) => e.startsWith('SecretRestored'))).toEqual([]);
    expect(events.some((e) => e.startsWith('Revoked'))).toBe(true);
  });
});

describe('NEXT ROTATION of a cron policy', () => {
  it("is the schedule's next fire time when that comes before renewal", async () => {
    await createPolicy(
      namespace,
      tokenPolicy('cron', onIssuer(issuer), ttl('24h'), schedule('*/10 * * * *')),
    );
    await waitForPolicy(namespace, 'cron', 'True/Issued');
    const status = (await readPolicy(namespace, 'cron'))?.status;
    const tenMinutes = 10 * 60_000;
    const issuedAt = Date.parse(status?.issuedAt ?? '');
    const nextFire = new Date((Math.floor(issuedAt / tenMinutes) + 1) * tenMinutes).toISOString();
    // Renewal would be 16 h away (a third of 24 h before expiry); the schedule fires within 10 min.
    expect(status?.nextRotationAt).toBe(nextFire);
  });
});
