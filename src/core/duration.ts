/**
 * Go-style durations ("24h", "1h30m", "90s", "1.5h"), the format Kubernetes users already write in
 * cert-manager and in CEL's duration(). The CRDs check the shape; this parses it.
 */

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

const WHOLE = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;

/** Parses a Go duration into milliseconds; throws a RangeError that names the bad value. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (!WHOLE.test(text)) {
    throw new RangeError(
      `"${text}" is not a duration: write a number and a unit, such as 90s, 10m, 24h or 1h30m`,
    );
  }
  let ms = 0;
  for (const [, value, unit] of text.matchAll(PART)) ms += Number(value) * (UNIT_MS[unit ?? ''] ?? 0);
  return Math.round(ms);
}

/** Formats milliseconds as a compact Go duration ("1h30m", "45s", "0s"). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}
