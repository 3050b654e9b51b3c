/**
 * The generated API types match the CRDs: regenerating them from crds/ in memory gives exactly the
 * committed src/api/v1alpha1.generated.ts, so a schema change without `npm run generate` fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE_PATH, CHART_CRDS, FILES, bundleCrds } from '../../../scripts/bundle-crds.ts';
import { generateApiTypes, HEADER, OUTPUT_PATH } from '../../../scripts/generate-api-types.ts';

describe('src/api/v1alpha1.generated.ts', () => {
  it('is what scripts/generate-api-types.ts makes of crds/ (run `npm run generate` after a CRD change)', async () => {
    const committed = readFileSync(OUTPUT_PATH, 'utf8');
    expect(await generateApiTypes()).toBe(committed);
  });

  it('starts with the do-not-edit header and declares every API type', () => {
    const committed = readFileSync(OUTPUT_PATH, 'utf8');
    expect(committed.split('\n')[0]).toBe(HEADER);
    for (const name of [
      'TokenPolicy',
      'TokenPolicySpec',
      'TokenPolicyStatus',
      'TokenIssuer',
      'ClusterTokenIssuer',
      'TokenIssuerSpec',
      'TokenIssuerStatus',
      'Condition',
    ]) {
      expect(committed).toMatch(new RegExp(`^export interface ${name} \\{$`, 'm'));
    }
  });
});

describe('deploy/crds.yaml', () => {
  it('is the CRDs of crds/ in one file (run `npm run generate` after a CRD change)', () => {
    expect(readFileSync(BUNDLE_PATH, 'utf8')).toBe(bundleCrds());
  });

  it('and the Helm chart carries the same CRDs', () => {
    for (const file of FILES) {
      expect(readFileSync(join(CHART_CRDS, file), 'utf8')).toBe(
        readFileSync(join(import.meta.dirname, '..', '..', '..', 'crds', file), 'utf8'),
      );
    }
  });
});
