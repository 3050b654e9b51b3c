/**
 * `npm run image`: builds the tokensmith image with podman on a machine that can pull no image.
 * Users with a registry build the Dockerfile as it is (its default bases are the official Node.js
 * 24 image); here the bases are made locally, each once and cached in podman's store:
 *
 *   localhost/debian-base:bookworm   mmdebstrap --variant=minbase of Debian's packages
 *   localhost/tokensmith-node:24     that, with the Node.js 24 binary of the node@24 devDependency
 *                                    and npm (from the npm registry) — the layout of the official image;
 *                                    the runtime base
 *   localhost/tokensmith-node-build:24  that, trusting this machine's CAs too (the package registry is
 *                                    reached through a proxy with a CA of its own): the dependencies
 *                                    stage only, so the runtime image trusts Debian's CAs alone
 *   tokensmith:dev                   the Dockerfile, FROM those (--tag to name it otherwise)
 *
 * Prints the image's size. Needs podman, runc and mmdebstrap (apt-get install podman runc
 * mmdebstrap); podman is pointed at runc once (crun cannot set RLIMIT_NOFILE here).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEBIAN_BASE as BASE, configurePodman, ensureDebianBase, hasImage, run } from './podman.ts';

const ROOT = join(import.meta.dirname, '..');
const NODE = 'localhost/tokensmith-node:24';
const NODE_BUILD = 'localhost/tokensmith-node-build:24';
/** This machine's trust store (Debian's CAs and the ones it adds). */
const HOST_CAS = '/etc/ssl/certs/ca-certificates.crt';
const note = (line: string) => process.stderr.write(`[image] ${line}\n`);

const { values } = parseArgs({ options: { tag: { type: 'string' } } });
const TAG = values.tag ?? 'tokensmith:dev';

function buildNode(dir: string): void {
  if (hasImage(NODE)) return;
  note(`making ${NODE}: the node@24 binary and npm on ${BASE}…`);
  const context = join(dir, 'node');
  mkdirSync(context);
  writeFileSync(
    join(context, 'node'),
    readFileSync(realpathSync(join(ROOT, 'node_modules', 'node', 'bin', 'node'))),
  );
  const npmVersion = run('npm', ['--version']).trim();
  run('npm', ['pack', `npm@${npmVersion}`, '--silent'], { cwd: context });
  writeFileSync(
    join(context, 'Containerfile'),
    [
      `FROM ${BASE}`,
      'COPY node /usr/local/bin/node',
      `ADD npm-${npmVersion}.tgz /usr/local/lib/`,
      'RUN chmod 755 /usr/local/bin/node && mv /usr/local/lib/package /usr/local/lib/node_modules-npm' +
        ' && mkdir -p /usr/local/lib/node_modules && mv /usr/local/lib/node_modules-npm /usr/local/lib/node_modules/npm' +
        ' && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && node --version && npm --version',
      '',
    ].join('\n'),
  );
  run('podman', ['build', '--quiet', '-t', NODE, context]);
}

function buildNodeBuild(dir: string): void {
  if (hasImage(NODE_BUILD)) return;
  note(`making ${NODE_BUILD}: ${NODE} trusting this machine's CAs…`);
  const context = join(dir, 'node-build');
  mkdirSync(context);
  writeFileSync(join(context, 'cas.crt'), readFileSync(HOST_CAS));
  writeFileSync(
    join(context, 'Containerfile'),
    [
      `FROM ${NODE}`,
      'COPY cas.crt /etc/ssl/certs/host-cas.crt',
      'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-cas.crt',
      '',
    ].join('\n'),
  );
  run('podman', ['build', '--quiet', '-t', NODE_BUILD, context]);
}

const dir = mkdtempSync(join(tmpdir(), 'tokensmith-image-'));
try {
  configurePodman(note);
  ensureDebianBase(note);
  buildNode(dir);
  buildNodeBuild(dir);
  const commit =
    spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim() || 'unknown';
  note(`building ${TAG} from the Dockerfile (commit ${commit.slice(0, 12)})…`);
  const started = Date.now();
  run('podman', [
    'build',
    '--quiet',
    '--build-arg',
    `NODE_IMAGE=${NODE_BUILD}`,
    '--build-arg',
    `BASE_IMAGE=${NODE}`,
    '--build-arg',
    `COMMIT=${commit}`,
    '-t',
    TAG,
    ROOT,
  ]);
  spawnSync('podman', ['image', 'prune', '-f'], { stdio: 'ignore' }); // the build's intermediate stages
  const size = Number(run('podman', ['image', 'inspect', TAG, '--format', '{{.Size}}']).trim());
  process.stdout.write(
    `built ${TAG} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${(size / 1024 / 1024).toFixed(0)} MiB\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
