/**
 * Discovery and keys per issuer. Each issuer answers at two places:
 *   - its own URL: `<spec.issuer>/.well-known/openid-configuration` and `<spec.issuer>/jwks.json`,
 *     routed by the request's Host and path (an Ingress for the issuer's host is all that is needed);
 *   - a stable path for clients in the cluster: `/issuers/cluster/<name>/…` for a
 *     ClusterTokenIssuer, `/issuers/<namespace>/<name>/…` for a TokenIssuer.
 * The discovery document names the issuer as tokens carry it (`iss`) and the JWKS under the form
 * it was asked by. The JWKS is served with an ETag (304 for If-None-Match) and a max-age well
 * below the issuer's publishAhead (a new key is in the JWKS that long before it signs).
 */
import { rotationSettings } from '../controllers/issuer/keyLifecycle.ts';
import type { AnyIssuer } from '../issuers/identity.ts';
import type { JwksSource } from './jwksSource.ts';
import { json, type Answer, type Routes, type VerifyRequest } from './server.ts';

/** How long verifiers may cache the JWKS, in seconds, at most. */
export const JWKS_MAX_AGE_S = 60;

/**
 * The JWKS's max-age for `issuer`: JWKS_MAX_AGE_S, or a quarter of its publishAhead when that is
 * shorter, so a verifier honouring Cache-Control learns a new key well before it signs.
 */
export function jwksMaxAgeS(issuer: AnyIssuer): number {
  try {
    return Math.min(JWKS_MAX_AGE_S, Math.floor(rotationSettings(issuer).publishAheadMs / 4_000));
  } catch {
    return JWKS_MAX_AGE_S; // the issuer controller reports the bad setting
  }
}
const DISCOVERY = '.well-known/openid-configuration';
const JWKS = 'jwks.json';
const INTROSPECT = 'introspect';
const TOKEN = 'token';

/** The stable path prefix of an issuer on the verification server. */
export function stablePrefix(issuer: AnyIssuer): string {
  const name = issuer.metadata?.name ?? '';
  return issuer.kind === 'TokenIssuer'
    ? `/issuers/${issuer.metadata?.namespace ?? ''}/${name}`
    : `/issuers/cluster/${name}`;
}

/** Where the verification server serves `issuer`, for its status. */
export function verificationUrls(issuer: AnyIssuer): {
  discoveryUrl: string;
  jwksUri: string;
  introspectionEndpoint: string;
  path: string;
} {
  const base = issuer.spec.issuer.replace(/\/+$/, '');
  return {
    discoveryUrl: `${base}/${DISCOVERY}`,
    jwksUri: `${base}/${JWKS}`,
    introspectionEndpoint: `${base}/${INTROSPECT}`,
    path: stablePrefix(issuer),
  };
}

/** The issuer a request is for, the document it asks for, and the base its URLs are built from. */
function locate(
  request: VerifyRequest,
  issuers: readonly AnyIssuer[],
): { issuer: AnyIssuer; document: string; base: string } | undefined {
  for (const issuer of issuers) {
    const prefix = `${stablePrefix(issuer)}/`;
    if (request.path.startsWith(prefix)) {
      return {
        issuer,
        document: request.path.slice(prefix.length),
        base: `https://${String(request.headers.host)}${prefix.slice(0, -1)}`,
      };
    }
  }
  for (const issuer of issuers) {
    let url: URL;
    try {
      url = new URL(issuer.spec.issuer);
    } catch {
      continue;
    }
    const path = url.pathname.replace(/\/+$/, '');
    if (url.hostname.toLowerCase() !== request.host || !request.path.startsWith(`${path}/`)) continue;
    return {
      issuer,
      document: request.path.slice(path.length + 1),
      base: issuer.spec.issuer.replace(/\/+$/, ''),
    };
  }
  return undefined;
}

export function issuerRoutes(options: {
  issuers: () => readonly AnyIssuer[];
  jwks: JwksSource;
  /** RFC 7662 introspection of the issuer's tokens (introspect.ts). */
  introspect: (issuer: AnyIssuer, request: VerifyRequest) => Promise<Answer>;
  /** RFC 6749 §6 refresh-token exchange (tokenEndpoint.ts). */
  token: (issuer: AnyIssuer, request: VerifyRequest) => Promise<Answer>;
}): Routes {
  return async (request) => {
    const found = locate(request, options.issuers());
    if (!found) return undefined;
    if (found.document === INTROSPECT) return options.introspect(found.issuer, request);
    if (found.document === TOKEN) return options.token(found.issuer, request);
    if (found.document !== DISCOVERY && found.document !== JWKS) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return json(405, { error: 'method_not_allowed' }, { allow: 'GET, HEAD' });
    }
    const { issuer, base } = found;
    if (found.document === DISCOVERY) {
      return json(
        200,
        {
          issuer: issuer.spec.issuer,
          jwks_uri: `${base}/${JWKS}`,
          introspection_endpoint: `${base}/${INTROSPECT}`,
          token_endpoint: `${base}/${TOKEN}`,
          grant_types_supported: ['refresh_token'],
          id_token_signing_alg_values_supported: [issuer.spec.signing?.algorithm ?? 'EdDSA'],
        },
        { 'cache-control': 'public, max-age=300' },
      );
    }
    const jwks = await options.jwks.get(issuer);
    if (!jwks)
      return json(
        503,
        { error: 'temporarily_unavailable', error_description: 'the JWKS is not published yet' },
        { 'retry-after': '5' },
      );
    const headers = { 'cache-control': `public, max-age=${jwksMaxAgeS(issuer)}`, etag: jwks.etag };
    if (request.headers['if-none-match'] === jwks.etag) return { status: 304, headers };
    return {
      status: 200,
      headers: { 'content-type': 'application/jwk-set+json', ...headers },
      body: jwks.body,
    };
  };
}
