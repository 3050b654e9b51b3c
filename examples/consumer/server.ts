/**
 * An API that receives tokensmith tokens and checks them, both ways:
 *   - a JWT offline, with jose's createRemoteJWKSet from the issuer's discovery document (no call
 *     per request; a revocation is seen only at `exp`);
 *   - anything else (opaque tokens), or every token with CHECK=introspect, by RFC 7662
 *     introspection with the API's own service-account token (sees revocation within a second).
 * Run: node examples/consumer/server.ts, with
 *   DISCOVERY_URL        the issuer's discovery document, e.g.
 *                        https://tokensmith.tokensmith-system.svc:8443/issuers/cluster/payments/.well-known/openid-configuration
 *   AUDIENCE             what JWTs must be for (aud)
 *   CALLER_TOKEN_FILE    a projected service-account token for audience "tokensmith" (introspection)
 *   CHECK                "auto" (JWT offline, else introspection; default) or "introspect"
 *   JWKS_CACHE_MAX_AGE_MS  how long the JWKS is cached, default 300000 (5m): keep it below the
 *                        issuer's signing.rotation.publishAhead (default 10m), so a new key is
 *                        known here before it signs its first token
 *   PORT                 default 8080
 * and NODE_EXTRA_CA_CERTS naming the CA of tokensmith's verification server.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`set ${name}`);
  return value;
};
const discoveryUrl = env('DISCOVERY_URL');
const audience = env('AUDIENCE');
const check = env('CHECK', 'auto');

const discovery = (await (await fetch(discoveryUrl)).json()) as {
  issuer: string;
  jwks_uri: string;
  introspection_endpoint: string;
};
// The introspection endpoint next to the discovery document it came from (in-cluster form).
const introspectionUrl = discoveryUrl.replace(/\/\.well-known\/openid-configuration$/, '/introspect');
const keys = createRemoteJWKSet(new URL(discovery.jwks_uri), {
  cacheMaxAge: Number(env('JWKS_CACHE_MAX_AGE_MS', '300000')),
});

async function introspect(token: string): Promise<{ active: boolean; sub?: string; scope?: string }> {
  const caller = readFileSync(env('CALLER_TOKEN_FILE'), 'utf8').trim(); // rotated by the kubelet
  const answer = await fetch(introspectionUrl, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }),
  });
  if (!answer.ok) throw new Error(`introspection answered ${answer.status}`);
  return (await answer.json()) as { active: boolean; sub?: string; scope?: string };
}

/** Who the token is for, or undefined when it is not valid here. */
async function verify(token: string): Promise<{ how: string; sub?: string; scope?: string } | undefined> {
  if (check !== 'introspect' && token.split('.').length === 3) {
    try {
      const { payload } = await jwtVerify(token, keys, { issuer: discovery.issuer, audience });
      return {
        how: 'jwt',
        ...(payload.sub ? { sub: payload.sub } : {}),
        ...(typeof payload.scope === 'string' ? { scope: payload.scope } : {}),
      };
    } catch {
      return undefined;
    }
  }
  const answer = await introspect(token);
  return answer.active
    ? {
        how: 'introspection',
        ...(answer.sub ? { sub: answer.sub } : {}),
        ...(answer.scope ? { scope: answer.scope } : {}),
      }
    : undefined;
}

const server = createServer((req, res) => {
  const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
  void (async () => {
    const who = token === undefined ? undefined : await verify(token).catch(() => undefined);
    res.writeHead(who ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(who ? { ok: true, ...who } : { ok: false }));
  })();
});
server.listen(Number(env('PORT', '8080')), () => {
  console.log(
    JSON.stringify({ msg: 'consumer listening', port: (server.address() as { port: number }).port }),
  );
});
process.once('SIGTERM', () => server.close());
