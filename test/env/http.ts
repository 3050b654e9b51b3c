import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** TLS material for a request; all PEM. */
export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
}

/** A small GET used by readiness probes; resolves with the status and body. */
export async function get(
  url: string,
  options: TlsOptions & { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  return send('GET', url, undefined, options);
}

/** One request with an optional JSON body (the launchers' calls to Vault's sys API). */
export async function send(
  method: 'GET' | 'PUT' | 'POST',
  url: string,
  json: unknown,
  options: TlsOptions & { headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = json === undefined ? undefined : JSON.stringify(json);
  const headers = { ...options.headers, ...(payload ? { 'content-type': 'application/json' } : {}) };
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      { method, ca: options.ca, cert: options.cert, key: options.key, headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 2_000, () => req.destroy(new Error(`timed out: ${method} ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}
