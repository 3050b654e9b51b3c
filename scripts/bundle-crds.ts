/**
 * Writes deploy/crds.yaml: the three CRDs of crds/ in one file, for `kubectl apply -f` (or
 * `--server-side`) without kustomize; and copies them to the Helm chart
 * (charts/tokensmith/files/crds/, templated by crds.yaml there). Part of `npm run generate`; a unit
 * test fails if either drifts.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
export const BUNDLE_PATH = join(ROOT, 'deploy', 'crds.yaml');
export const CHART_CRDS = join(ROOT, 'charts', 'tokensmith', 'files', 'crds');
export const FILES = [
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
  mkdirSync(CHART_CRDS, { recursive: true });
  for (const file of FILES) copyFileSync(join(ROOT, 'crds', file), join(CHART_CRDS, file));
  process.stdout.write(`copied the CRDs to ${CHART_CRDS}\n`);
}
