/**
 * Writes deploy/crds.yaml: the three CRDs of crds/ in one file, for `kubectl apply -f` (or
 * `--server-side`) without kustomize. Part of `npm run generate`; a unit test fails if it drifts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
export const BUNDLE_PATH = join(ROOT, 'deploy', 'crds.yaml');
const FILES = [
  'tokensmith.dev_clustertokenissuers.yaml',
  'tokensmith.dev_tokenissuers.yaml',
  'tokensmith.dev_tokenpolicies.yaml',
];

/** The bundle's contents, from crds/. */
export function bundleCrds(crdDir: string = join(ROOT, 'crds')): string {
  const header =
    '# The tokensmith.dev CRDs in one file, generated from crds/ by `npm run generate` (do not edit).\n' +
    '# kubectl apply --server-side -f deploy/crds.yaml\n';
  const docs = FILES.map((file) =>
    readFileSync(join(crdDir, file), 'utf8')
      .replace(/^---\n/, '')
      .trimEnd(),
  );
  return `${header}---\n${docs.join('\n---\n')}\n`;
}

if (import.meta.main) {
  writeFileSync(BUNDLE_PATH, bundleCrds());
  process.stdout.write(`wrote ${BUNDLE_PATH}\n`);
}
