/**
 * The sums of some of a controller process's counters, from its /metrics (--metrics-port), for
 * tests that measure how much work it does (requests per object, per edit, when idle).
 */
import { request } from 'node:http';
import { metricSamples } from '../../bench/support.ts';

export async function metricSums<K extends string>(
  port: number,
  names: Record<K, string>,
): Promise<Record<K, number>> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
    req.on('error', reject);
    req.end();
  });
  const entries = Object.entries(names) as [K, string][];
  return Object.fromEntries(
    entries.map(([key, name]) => [key, metricSamples(text, name).reduce((n, s) => n + s.value, 0)]),
  ) as Record<K, number>;
}
