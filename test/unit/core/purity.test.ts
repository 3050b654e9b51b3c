/**
 * core/ decides and does no I/O (STYLE.md): its modules import only each other, tokensmith's API
 * constants, node:crypto (hashing) and cron (parsing schedules) — no Kubernetes or Vault client,
 * no timers, no file system.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE = join(import.meta.dirname, '..', '..', '..', 'src', 'core');
const ALLOWED = [/^\.\/[a-zA-Z]+\.ts$/, /^\.\.\/api\/constants\.ts$/, /^node:crypto$/, /^cron$/];

describe('core/', () => {
  it('imports nothing that does I/O', () => {
    const imports = readdirSync(CORE)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) =>
        [...readFileSync(join(CORE, f), 'utf8').matchAll(/^import [^;]*? from '([^']+)';/gms)].map(
          (m) => `${f}: ${m[1] ?? ''}`,
        ),
      );
    expect(imports.length).toBeGreaterThan(10);
    expect(imports.filter((i) => !ALLOWED.some((re) => re.test(i.split(': ')[1] ?? '')))).toEqual([]);
  });
});
