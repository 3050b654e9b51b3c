import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';

const b64 = (pem: string) => Buffer.from(pem).toString('base64');

/** Writes a self-contained kubeconfig (certificates embedded) for one user of one cluster. */
export function writeKubeconfig(
  path: string,
  options: { server: string; caPem: string; user: string; certPem: string; keyPem: string },
): string {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'tokensmith-test',
        cluster: { server: options.server, 'certificate-authority-data': b64(options.caPem) },
      },
    ],
    users: [
      {
        name: options.user,
        user: { 'client-certificate-data': b64(options.certPem), 'client-key-data': b64(options.keyPem) },
      },
    ],
    contexts: [{ name: 'tokensmith-test', context: { cluster: 'tokensmith-test', user: options.user } }],
    'current-context': 'tokensmith-test',
    preferences: {},
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}
