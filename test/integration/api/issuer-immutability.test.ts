/**
 * An issuer's Vault location and signing-key settings cannot change in place (tokens would be
 * orphaned or stop verifying); its guardrails can.
 */
import { describe, expect, it } from 'vitest';
import type { ClusterTokenIssuer } from '../../../src/api/v1alpha1.generated.ts';
import { uniqueName } from '../../support/environment.ts';
import { rejection } from '../../support/kubeErrors.ts';
import { createClusterIssuer, customObjects, readClusterIssuer } from '../../support/resources.ts';

const G = { group: 'tokensmith.dev', version: 'v1alpha1', plural: 'clustertokenissuers' };

async function update(name: string, change: (issuer: ClusterTokenIssuer) => void): Promise<unknown> {
  const issuer = await readClusterIssuer(name);
  change(issuer);
  return customObjects().replaceClusterCustomObject({ ...G, name, body: issuer });
}

describe('issuer immutability', () => {
  it('refuses in-place changes of where tokens live and how they are signed, and allows the rest', async () => {
    const name = uniqueName('immutable');
    await createClusterIssuer(name, {
      issuer: 'https://tokens.immutable.example',
      vault: { mount: 'secret', pathPrefix: 'tokensmith/immutable' },
      signing: { algorithm: 'EdDSA' },
    });

    const algorithm = await rejection(() =>
      update(name, (i) => {
        i.spec.signing = { ...i.spec.signing, algorithm: 'RS256' };
      }),
    );
    expect(algorithm.code).toBe(422);
    expect(algorithm.message).toContain(
      'spec.signing.algorithm, backend, transitMount and keyName cannot be changed',
    );

    const prefix = await rejection(() =>
      update(name, (i) => {
        i.spec.vault = { ...i.spec.vault, pathPrefix: 'tokensmith/elsewhere' };
      }),
    );
    expect(prefix.code).toBe(422);
    expect(prefix.message).toContain('spec.vault.address, mount and pathPrefix cannot be changed');

    await update(name, (i) => {
      i.spec.allowed = { ...i.spec.allowed, maxTtl: '12h' };
      i.spec.signing = { ...i.spec.signing, rotation: { every: '240h', verifyFor: '48h' } };
    });
    expect((await readClusterIssuer(name)).spec.allowed?.maxTtl).toBe('12h');
  });
});
