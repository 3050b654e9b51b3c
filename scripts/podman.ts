/**
 * podman on a machine that can pull no image: pointing podman at runc once (crun cannot set
 * RLIMIT_NOFILE here), and a Debian base image made from Debian's packages with mmdebstrap,
 * cached in podman's store. Used by scripts/build-image.ts (the tokensmith image) and by the test
 * environment's container mode (test/env/containers.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEBIAN_BASE = 'localhost/debian-base:bookworm';

export function run(command: string, args: string[], options: { cwd?: string } = {}): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
}

export function hasPodman(): boolean {
  return spawnSync('podman', ['--version'], { stdio: 'ignore' }).status === 0;
}

export function hasImage(name: string): boolean {
  return spawnSync('podman', ['image', 'exists', name]).status === 0;
}

/** crun fails every container here (setrlimit RLIMIT_NOFILE): use runc, without default ulimits. */
export function configurePodman(note: (line: string) => void): void {
  const path = '/etc/containers/containers.conf';
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (current.includes('runtime = "runc"')) return;
  note(`pointing podman at runc (${path})`);
  mkdirSync('/etc/containers', { recursive: true });
  writeFileSync(
    path,
    `${current}\n# Written by tokensmith's scripts/podman.ts: crun cannot set RLIMIT_NOFILE here.\n[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n`,
  );
}

/** localhost/debian-base:bookworm, made once with mmdebstrap (Debian's packages, no registry). */
export function ensureDebianBase(note: (line: string) => void): void {
  if (hasImage(DEBIAN_BASE)) return;
  note(`making ${DEBIAN_BASE} with mmdebstrap (Debian's packages)…`);
  const dir = mkdtempSync(join(tmpdir(), 'tokensmith-base-'));
  try {
    const tar = join(dir, 'base.tar');
    run('mmdebstrap', ['--variant=minbase', '--include=ca-certificates', 'bookworm', tar]);
    run('podman', ['import', tar, DEBIAN_BASE]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
