/**
 * The soak benchmark's short run in `npm test` (bench/soak.ts; issue 14): a minute and a half of
 * real time on a 60× clock (an hour and a half of token time, ~4 rotations per policy) with a
 * random fault every ~8 s — the controller SIGKILLed, Vault paused, kube-apiserver restarted — on
 * servers of its own. Passes when the soak's invariant report has no violation; the report is
 * printed either way.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { environment } from '../../support/environment.ts';
import { REPO_ROOT } from '../../env/settings.ts';

interface SoakReport {
  tokenHours: number;
  faults: Record<string, number>;
  rotations: number;
  violations: string[];
}

describe('soak, short run', () => {
  it('keeps every invariant through random faults', { timeout: 360_000 }, async () => {
    const reportPath = join(environment().dir, 'soak-report.json');
    const child = spawn(
      process.execPath,
      [
        join(REPO_ROOT, 'bench', 'soak.ts'),
        '--duration=90s',
        '--fault-every=8s',
        '--policies=10',
        `--report=${reportPath}`,
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, KUBECONFIG: undefined, VAULT_ADDR: undefined },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    console.log(
      output
        .split('\n')
        .filter((l) => l.startsWith('soak'))
        .join('\n'),
    );
    expect(code, output.slice(-3000)).toBe(0);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as SoakReport;
    expect(report.violations).toEqual([]);
    expect(report.tokenHours).toBeGreaterThan(1);
    expect(report.rotations).toBeGreaterThan(0);
    expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  });
});
