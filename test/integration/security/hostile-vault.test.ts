/**
 * A namespace's own Vault server may be hostile. A TokenIssuer may name any Vault (with
 * credentials of its own), so tokensmith must survive what that server does: trickle a response a
 * byte at a time (a request must still end at its deadline), send 50 MB (reading stops at the size
 * cap), or redirect elsewhere (never followed: the request carries the Vault token). Checked on
 * the Vault client and on the running controller, whose other namespaces' policies keep being
 * served meanwhile. The hostile server is a real HTTPS listener in this test; a second listener
 * records anything a redirect would send it (nothing may arrive).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokensmithError } from '../../../src/errors.ts';
import { systemClock } from '../../../src/util/clock.ts';
import { VaultBreakers } from '../../../src/vault/breaker.ts';
import { VaultClient } from '../../../src/vault/client.ts';
import { startCaptureServer, type CaptureServer } from '../../support/captureServer.ts';
import { adminKubeConfig } from '../../support/environment.ts';
import type { TestOperator } from '../../support/operator.ts';
import {
  annotateObject,
  createPolicy,
  createReadyClusterIssuer,
  createTokenIssuer,
  readPolicy,
  readTokenIssuer,
  waitForIssuer,
  waitForPolicy,
} from '../../support/resources.ts';
import { createVaultTokenSecret, startTenantAndBystanders } from '../../support/tenants.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

const HOSTILE_TOKEN = 'hostile-namespace-vault-token';
let capture: CaptureServer;
let caPem: string;
/** One hostile server per misbehaviour, so that each has a breaker of its own. */
const urls: Record<string, string> = {};
let captureUrl: string;
let captured: string[];

beforeAll(async () => {
  // Anything a redirect would send elsewhere arrives here (nothing may).
  capture = await startCaptureServer('hostile-vault');
  ({ caPem, captured, url: captureUrl } = capture);
  // The path says how to misbehave: /trickle, /huge or /redirect as the mount of whatever is asked.
  const misbehave = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (url.includes('/redirect')) {
      res.writeHead(307, { location: `${captureUrl}${url}` }).end();
    } else if (url.includes('/huge')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(1024 * 1024, 'a');
      res.write('{"data":{"x":"');
      for (let i = 0; i < 50; i++) res.write(chunk);
      res.end('"}}');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 200); // a byte at a time, never done
      res.on('close', () => {
        clearInterval(timer);
      });
    }
  };
  for (const mode of ['trickle', 'huge', 'redirect']) {
    urls[mode] = await capture.listen(createServer(capture.tls, misbehave));
  }
});

afterAll(async () => {
  await capture.close();
});

function hostileClient(mode: string, breaker?: VaultBreakers): VaultClient {
  return new VaultClient({
    address: urls[mode] ?? '',
    ...(breaker ? { breaker } : {}),
    caPem,
    auth: { method: 'token', token: HOSTILE_TOKEN },
    timeoutMs: 1500,
    maxResponseBytes: 1024 * 1024,
  });
}

async function failure(promise: Promise<unknown>): Promise<TokensmithError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokensmithError);
  return err as TokensmithError;
}

describe('the Vault client against a hostile server', () => {
  it('ends a trickled response at the deadline', async () => {
    const breaker = new VaultBreakers({ clock: systemClock });
    const client = hostileClient('trickle', breaker);
    const started = Date.now();
    const err = await failure(client.read('trickle/data/x', 'read the token record'));
    expect(Date.now() - started).toBeLessThan(10_000); // the socket never went idle: only the deadline ends it
    expect(err).toMatchObject({ code: 'VaultUnreachable' });
    expect(err.message).toBe(
      'could not read the token record (trickle/data/x): Vault did not answer in time (ETIMEDOUT)',
    );
    // The next request does not wait for the deadline again: the server's breaker is open.
    const again = Date.now();
    const fast = await failure(client.read('trickle/data/y', 'read the token record'));
    expect(Date.now() - again).toBeLessThan(500);
    expect(fast.message).toMatch(
      /ran into the request deadline or the size cap recently; it is not asked again for \d+ s/,
    );
    client.close();
  });

  it('stops reading a response past the size cap', async () => {
    const client = hostileClient('huge');
    const err = await failure(client.read('huge/data/x', 'read the token record'));
    expect(err).toMatchObject({ code: 'VaultRequestFailed' });
    expect(err.message).toBe(
      "could not read the token record (huge/data/x): Vault's response was larger than 1048576 bytes",
    );
    client.close();
  });

  it('never follows a redirect, so the token goes nowhere else', async () => {
    const client = hostileClient('redirect');
    const err = await failure(client.read('redirect/data/x', 'read the token record'));
    expect(err.message).toMatch(/HTTP 307: it answered with a redirect, which tokensmith does not follow/);
    expect(err.message).not.toContain(HOSTILE_TOKEN);
    expect(captured).toEqual([]);
    client.close();
  });
});

describe('the controller with a hostile TokenIssuer in one namespace', () => {
  let tenant: string;
  let bystanders: string;
  let operator: TestOperator;

  beforeAll(async () => {
    ({ tenant, bystanders, operator } = await startTenantAndBystanders('hostile'));
    await createVaultTokenSecret(tenant, 'vault-token', HOSTILE_TOKEN, 'trickle, huge,redirect');
    // A Secret the namespace did not mark for any issuer (say, another team's database password).
    await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespacedSecret({
        namespace: tenant,
        body: { metadata: { name: 'db-password' }, stringData: { token: 'p4ssw0rd-of-someone-else' } },
      });
  });

  afterAll(async () => {
    await operator.stop();
  });

  it(
    'refuses each misbehaviour with a clear reason while other namespaces keep being served',
    { timeout: 90_000 },
    async () => {
      for (const mode of ['trickle', 'huge', 'redirect']) {
        await createTokenIssuer(tenant, mode, {
          issuer: `https://tokens.${mode}.example`,
          vault: {
            address: urls[mode] ?? '',
            caBundle: caPem,
            mount: mode,
            auth: { token: { secretRef: { name: 'vault-token' } } },
          },
          signing: { transitMount: mode },
        });
      }
      const healthy = await createReadyClusterIssuer('bystander', operator.config.vault.transitMount);
      await createPolicy(bystanders, tokenPolicy('served', onIssuer(healthy)));
      await waitForPolicy(bystanders, 'served', 'True/Issued');

      // While the hostile issuers fail and retry, the bystander's rotations go on.
      for (let i = 2; i <= 4; i++) {
        await annotateObject(
          { plural: 'tokenpolicies', namespace: bystanders, name: 'served' },
          { 'tokensmith.dev/rotate': String(i) },
        );
        await expect
          .poll(async () => (await readPolicy(bystanders, 'served'))?.status?.currentVersion, {
            timeout: 15_000,
          })
          .toBe(i);
      }
      const reasons = await Promise.all(
        ['trickle', 'huge', 'redirect'].map(async (mode) => {
          let ready: { status: string; reason: string; message: string } | undefined;
          await expect
            .poll(
              async () => {
                ready = (await readTokenIssuer(tenant, mode)).status?.conditions?.find(
                  (c) => c.type === 'Ready',
                );
                return ready?.status;
              },
              { timeout: 30_000 },
            )
            .toBe('False');
          return `${ready?.reason ?? ''}: ${ready?.message ?? ''}`;
        }),
      );
      // A retry may meet the server's open breaker instead (VaultUnreachable, saying why).
      expect(reasons[0]).toMatch(
        /^VaultUnreachable: .*(did not answer in time|ran into the request deadline)/,
      );
      expect(reasons[1]).toMatch(
        /^(VaultRequestFailed: .*larger than \d+ bytes|VaultUnreachable: .*size cap recently)/,
      );
      expect(reasons[2]).toMatch(/^VaultRequestFailed: .*redirect, which tokensmith does not follow/);
      expect(captured).toEqual([]);
      expect(operator.logs()).not.toContain(HOSTILE_TOKEN);
    },
  );

  it('never sends an unmarked Secret to a Vault server the namespace names', async () => {
    await createTokenIssuer(tenant, 'exfiltrate', {
      issuer: 'https://tokens.exfiltrate.example',
      vault: {
        address: captureUrl,
        caBundle: caPem,
        auth: { token: { secretRef: { name: 'db-password' } } },
      },
    });
    const issuer = await waitForIssuer('exfiltrate', 'False/CredentialsMissing', 30_000, tenant);
    expect(issuer.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBe(
      `Secret ${tenant}/db-password is not marked for TokenIssuer exfiltrate, which sends it to its own Vault ` +
        'server: annotate the Secret with tokensmith.dev/vault-credentials-for=exfiltrate if that is meant',
    );
    expect(captured).toEqual([]);
  });
});
