/**
 * The API refuses bad specs at `kubectl apply` time. Each invalid object below is sent to the real
 * kube-apiserver of the test environment, which must refuse it with 422 and a message a person can
 * act on: the field path, and the CEL rule's message or the schema's own words. Valid examples must
 * be accepted with their defaults applied, and `kubectl explain` must print the descriptions.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP, KIND, PLURAL, VERSION } from '../../../src/api/constants.ts';
import type {
  ClusterTokenIssuer,
  TokenIssuer,
  TokenIssuerSpec,
  TokenPolicy,
} from '../../../src/api/v1alpha1.generated.ts';
import { adminKubeConfig, createNamespace, environment, uniqueName } from '../../support/environment.ts';
import { rejection } from '../../support/kubeErrors.ts';

type Kind = 'TokenPolicy' | 'TokenIssuer' | 'ClusterTokenIssuer';
type Spec = Record<string, unknown>;

/** One object the API server must refuse. */
interface InvalidCase {
  /** What is wrong, as the test's title. */
  what: string;
  kind: Kind;
  spec: Spec;
  /** metadata.name; a fresh valid name unless the name itself is what is wrong. */
  name?: string;
  /** Fragments the Status message must contain, e.g. the field path and the rule's message. */
  refusedWith: string[];
}

const PLURAL_OF: Record<Kind, string> = {
  TokenPolicy: PLURAL.tokenPolicy,
  TokenIssuer: PLURAL.tokenIssuer,
  ClusterTokenIssuer: PLURAL.clusterTokenIssuer,
};

/** A minimal valid TokenPolicy spec with the given top-level fields replaced. */
const policy = (patch: Spec = {}): Spec => ({
  issuerRef: { name: 'payments' },
  token: { type: 'opaque', ttl: '24h' },
  secret: { name: 'orders-api-token' },
  ...patch,
});
/** A TokenPolicy spec whose token has the given fields replaced. */
const policyToken = (patch: Spec): Spec => policy({ token: { type: 'opaque', ttl: '24h', ...patch } });
/** A minimal valid issuer spec with the given top-level fields replaced. */
const issuer = (patch: Spec = {}): Spec => ({ issuer: 'https://tokens.payments.example', ...patch });

const secretRef = { name: 'vault-credentials' };

const invalid: InvalidCase[] = [
  // ── TokenPolicy ──────────────────────────────────────────────────────────────────────────────
  {
    what: 'an unknown token type',
    kind: 'TokenPolicy',
    spec: policyToken({ type: 'bearer' }),
    refusedWith: ['spec.token.type: Unsupported value: "bearer": supported values: "opaque", "jwt"'],
  },
  {
    what: 'an unknown issuer kind',
    kind: 'TokenPolicy',
    spec: policy({ issuerRef: { kind: 'Issuer', name: 'payments' } }),
    refusedWith: [
      'spec.issuerRef.kind: Unsupported value: "Issuer": supported values: "TokenIssuer", "ClusterTokenIssuer"',
    ],
  },
  {
    what: 'an unknown opaque encoding',
    kind: 'TokenPolicy',
    spec: policyToken({ opaque: { encoding: 'base32' } }),
    refusedWith: ['spec.token.opaque.encoding: Unsupported value: "base32"'],
  },
  {
    what: 'a ttl in days, which Go durations do not have',
    kind: 'TokenPolicy',
    spec: policyToken({ ttl: '1d' }),
    refusedWith: ['spec.token.ttl: Invalid value: "1d": spec.token.ttl in body should match'],
  },
  {
    what: 'a ttl under a minute',
    kind: 'TokenPolicy',
    spec: policyToken({ ttl: '30s' }),
    refusedWith: ['spec.token.ttl: Invalid value: "30s": token.ttl must be at least 1m'],
  },
  {
    what: 'a renewBefore in words',
    kind: 'TokenPolicy',
    spec: policy({ rotation: { renewBefore: 'two hours' } }),
    refusedWith: [
      'spec.rotation.renewBefore: Invalid value: "two hours": spec.rotation.renewBefore in body should match',
    ],
  },
  {
    what: 'renewBefore as long as the ttl',
    kind: 'TokenPolicy',
    spec: policy({ token: { type: 'opaque', ttl: '1h' }, rotation: { renewBefore: '60m' } }),
    refusedWith: [
      'spec.rotation.renewBefore: Invalid value',
      'rotation.renewBefore must be shorter than token.ttl, or the token would be renewed as soon as it is issued',
    ],
  },
  {
    what: 'an overlap as long as the ttl',
    kind: 'TokenPolicy',
    spec: policy({ token: { type: 'opaque', ttl: '1h' }, rotation: { overlap: '1h' } }),
    refusedWith: [
      'spec.rotation.overlap: Invalid value',
      'rotation.overlap must be shorter than token.ttl, or the previous token would expire before its overlap ends',
    ],
  },
  {
    what: 'an overlap longer than renewBefore',
    kind: 'TokenPolicy',
    spec: policy({ rotation: { renewBefore: '1h', overlap: '90m' } }),
    refusedWith: [
      'spec.rotation.overlap: Invalid value',
      'rotation.overlap must not exceed rotation.renewBefore',
    ],
  },
  {
    what: 'a refresh token that expires before its access token',
    kind: 'TokenPolicy',
    spec: policyToken({ refresh: { enabled: true, ttl: '12h' } }),
    refusedWith: [
      'spec.token.refresh.ttl: Invalid value',
      'token.refresh.ttl must be at least token.ttl: a refresh token that expires before its access token is useless',
    ],
  },
  {
    what: 'a refresh ttl without refresh enabled',
    kind: 'TokenPolicy',
    spec: policyToken({ refresh: { ttl: '720h' } }),
    refusedWith: [
      'spec.token.refresh.ttl: Invalid value',
      'token.refresh.ttl may only be set when token.refresh.enabled is true',
    ],
  },
  {
    what: 'jwt settings on an opaque token',
    kind: 'TokenPolicy',
    spec: policyToken({ jwt: { audience: ['orders-api'] } }),
    refusedWith: ['spec.token.jwt: Invalid value', 'token.jwt may only be set when token.type is "jwt"'],
  },
  {
    what: 'opaque settings on a jwt',
    kind: 'TokenPolicy',
    spec: policyToken({ type: 'jwt', jwt: { audience: ['orders-api'] }, opaque: { bytes: 32 } }),
    refusedWith: [
      'spec.token.opaque: Invalid value',
      'token.opaque may only be set when token.type is "opaque"',
    ],
  },
  {
    what: 'a jwt without its jwt settings',
    kind: 'TokenPolicy',
    spec: policyToken({ type: 'jwt' }),
    refusedWith: [
      'spec.token.jwt: Invalid value',
      'token.jwt (at least its audience) is required when token.type is "jwt"',
    ],
  },
  {
    what: 'a jwt without an audience',
    kind: 'TokenPolicy',
    spec: policyToken({ type: 'jwt', jwt: { audience: [] } }),
    refusedWith: [
      'spec.token.jwt.audience: Invalid value: 0: spec.token.jwt.audience in body should have at least 1 items',
    ],
  },
  {
    what: 'reserved claims',
    kind: 'TokenPolicy',
    spec: policyToken({
      type: 'jwt',
      jwt: {
        audience: ['orders-api'],
        claims: { tenant: 'acme', iss: 'https://evil.example', exp: 4102444800 },
      },
    }),
    refusedWith: [
      'spec.token.jwt.claims: Invalid value',
      'token.jwt.claims must not set a registered claim (iss, sub, aud, exp, nbf, iat, jti) or scope',
    ],
  },
  {
    what: 'a scope with a space',
    kind: 'TokenPolicy',
    spec: policyToken({ scopes: ['orders read'] }),
    refusedWith: ['spec.token.scopes[0]: Invalid value: "orders read"'],
  },
  {
    what: 'too few opaque bytes',
    kind: 'TokenPolicy',
    spec: policyToken({ opaque: { bytes: 8 } }),
    refusedWith: [
      'spec.token.opaque.bytes: Invalid value: 8: spec.token.opaque.bytes in body should be greater than or equal to 16',
    ],
  },
  {
    what: 'too many opaque bytes',
    kind: 'TokenPolicy',
    spec: policyToken({ opaque: { bytes: 4096 } }),
    refusedWith: [
      'spec.token.opaque.bytes: Invalid value: 4096: spec.token.opaque.bytes in body should be less than or equal to 128',
    ],
  },
  {
    what: 'a Secret key that is not an environment variable name',
    kind: 'TokenPolicy',
    spec: policy({ secret: { name: 'orders-api-token', keys: { token: 'orders-token' } } }),
    refusedWith: [
      'spec.secret.keys.token: Invalid value: "orders-token": must be a valid environment variable name',
    ],
  },
  {
    what: 'two values under one Secret key',
    kind: 'TokenPolicy',
    spec: policy({ secret: { name: 'orders-api-token', keys: { token: 'TOKEN', previous: 'TOKEN' } } }),
    refusedWith: ['spec.secret.keys: Invalid value', 'secret.keys must name a different key for each value'],
  },
  {
    what: 'a Secret label tokensmith owns',
    kind: 'TokenPolicy',
    spec: policy({ secret: { name: 'orders-api-token', labels: { 'app.kubernetes.io/managed-by': 'me' } } }),
    refusedWith: [
      'spec.secret.labels: Invalid value',
      'secret.labels must not set app.kubernetes.io/managed-by or a tokensmith.dev/ label',
    ],
  },
  {
    what: 'a cron schedule with four fields',
    kind: 'TokenPolicy',
    spec: policy({ rotation: { schedule: '0 3 * *' } }),
    refusedWith: [
      'spec.rotation.schedule: Invalid value: "0 3 * *": rotation.schedule must be a cron expression of 5 fields',
    ],
  },
  {
    what: 'a time zone without a schedule',
    kind: 'TokenPolicy',
    spec: policy({ rotation: { timeZone: 'Europe/Berlin' } }),
    refusedWith: [
      'spec.rotation.timeZone: Invalid value',
      'rotation.timeZone may only be set together with rotation.schedule',
    ],
  },
  {
    what: 'the same workload twice',
    kind: 'TokenPolicy',
    spec: policy({
      workloads: [
        { kind: 'Deployment', name: 'checkout' },
        { kind: 'Deployment', name: 'checkout' },
      ],
    }),
    refusedWith: ['spec.workloads[1]: Duplicate value: {"kind":"Deployment","name":"checkout"}'],
  },
  {
    what: 'no secret',
    kind: 'TokenPolicy',
    spec: { issuerRef: { name: 'payments' }, token: { type: 'opaque', ttl: '1h' } },
    refusedWith: ['spec.secret: Required value'],
  },
  {
    what: 'a name that is not a DNS subdomain',
    kind: 'TokenPolicy',
    name: 'Orders_API',
    spec: policy(),
    refusedWith: [
      'metadata.name: Invalid value: "Orders_API": a lowercase RFC 1123 subdomain must consist of',
    ],
  },
  {
    what: 'a name too long for a label value',
    kind: 'TokenPolicy',
    name: 'a'.repeat(64),
    spec: policy(),
    refusedWith: ['metadata.name must be at most 63 characters: tokensmith uses it as a label value'],
  },

  // ── TokenIssuer ──────────────────────────────────────────────────────────────────────────────
  {
    what: 'an http issuer URL',
    kind: 'TokenIssuer',
    spec: issuer({ issuer: 'http://tokens.payments.example' }),
    refusedWith: [
      'spec.issuer: Invalid value: "http://tokens.payments.example": issuer must be an https URL with a host',
    ],
  },
  {
    what: 'an issuer URL with a query',
    kind: 'TokenIssuer',
    spec: issuer({ issuer: 'https://tokens.payments.example/?tenant=acme' }),
    refusedWith: ['spec.issuer: Invalid value', 'issuer must not have a query ("?") or fragment ("#")'],
  },
  {
    what: 'two Vault auth methods',
    kind: 'TokenIssuer',
    spec: issuer({
      vault: { auth: { token: { secretRef }, kubernetes: { role: 'tokensmith' } } },
    }),
    refusedWith: [
      'spec.vault.auth: Invalid value',
      'vault.auth must set only one of token, appRole or kubernetes',
    ],
  },
  {
    what: 'no Vault auth method in auth',
    kind: 'TokenIssuer',
    spec: issuer({ vault: { auth: {} } }),
    refusedWith: [
      'spec.vault.auth: Invalid value',
      'vault.auth must set one of token, appRole or kubernetes',
    ],
  },
  {
    what: 'an AppRole without its role ID',
    kind: 'TokenIssuer',
    spec: issuer({ vault: { auth: { appRole: { secretRef } } } }),
    refusedWith: ['spec.vault.auth.appRole.roleId: Required value'],
  },
  {
    what: 'a key that stops verifying before the longest token expires (the design sketch)',
    kind: 'TokenIssuer',
    spec: issuer({
      signing: { rotation: { every: '720h', verifyFor: '48h' } },
      allowed: { audiences: ['orders-api'], scopes: ['orders:*'], maxTtl: '72h' },
    }),
    refusedWith: [
      'spec.signing.rotation.verifyFor: Invalid value',
      'signing.rotation.verifyFor must cover allowed.maxTtl, or tokens would stop verifying before they expire',
    ],
  },
  {
    what: 'a maxTtl above the default verifyFor',
    kind: 'TokenIssuer',
    spec: issuer({ allowed: { maxTtl: '49h' } }),
    refusedWith: [
      'spec.signing.rotation.verifyFor: Invalid value',
      'signing.rotation.verifyFor must cover allowed.maxTtl',
    ],
  },
  {
    what: 'a Vault path prefix that climbs out with ".."',
    kind: 'TokenIssuer',
    spec: issuer({ vault: { pathPrefix: 'tokensmith/../sys' } }),
    refusedWith: ['spec.vault.pathPrefix: Invalid value: "tokensmith/../sys": must be Vault path segments'],
  },

  // ── ClusterTokenIssuer ───────────────────────────────────────────────────────────────────────
  {
    what: 'an issuer that is not a URL',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ issuer: 'payments' }),
    refusedWith: ['spec.issuer: Invalid value: "payments": issuer must be an https URL with a host'],
  },
  {
    what: 'an HMAC algorithm',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ signing: { algorithm: 'HS256' } }),
    refusedWith: [
      'spec.signing.algorithm: Unsupported value: "HS256": supported values: "EdDSA", "ES256", "RS256"',
    ],
  },
  {
    what: 'an unknown signing backend',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ signing: { backend: 'file' } }),
    refusedWith: ['spec.signing.backend: Unsupported value: "file": supported values: "transit", "kv"'],
  },
  {
    what: 'a key rotation period in days',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ signing: { rotation: { every: '30d' } } }),
    refusedWith: [
      'spec.signing.rotation.every: Invalid value: "30d": spec.signing.rotation.every in body should match',
    ],
  },
  {
    what: 'a key rotated every few minutes',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ signing: { rotation: { every: '10m' } } }),
    refusedWith: [
      'spec.signing.rotation.every: Invalid value: "10m": signing.rotation.every must be at least 1h',
    ],
  },
  {
    what: 'a new key published no earlier than the next rotation',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ signing: { rotation: { every: '2h', publishAhead: '2h' } } }),
    refusedWith: [
      'spec.signing.rotation.publishAhead: Invalid value: signing.rotation.publishAhead must be shorter than signing.rotation.every, or a new key would never sign before the next one is made',
    ],
  },
  {
    what: 'a maxTtl under a minute',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ allowed: { maxTtl: '10s' } }),
    refusedWith: ['spec.allowed.maxTtl: Invalid value: "10s": allowed.maxTtl must be at least 1m'],
  },
  {
    what: 'a plain-http Vault address',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ vault: { address: 'http://vault.vault.svc:8200' } }),
    refusedWith: [
      'spec.vault.address: Invalid value: "http://vault.vault.svc:8200": vault.address must be an https URL',
    ],
  },
  {
    what: 'a CA bundle that is not PEM',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ vault: { caBundle: 'not a certificate' } }),
    refusedWith: ['spec.vault.caBundle: Invalid value', 'vault.caBundle must hold PEM-encoded certificates'],
  },
  {
    what: 'a KV mount with a leading slash',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ vault: { mount: '/secret' } }),
    refusedWith: ['spec.vault.mount: Invalid value: "/secret": must be Vault path segments'],
  },
  {
    what: 'Kubernetes auth and a token together',
    kind: 'ClusterTokenIssuer',
    spec: issuer({ vault: { auth: { kubernetes: { role: 'tokensmith' }, token: { secretRef } } } }),
    refusedWith: [
      'spec.vault.auth: Invalid value',
      'vault.auth must set only one of token, appRole or kubernetes',
    ],
  },
  {
    what: 'a name that is not a DNS subdomain',
    kind: 'ClusterTokenIssuer',
    name: 'Payments!',
    spec: issuer(),
    refusedWith: [
      'metadata.name: Invalid value: "Payments!": a lowercase RFC 1123 subdomain must consist of',
    ],
  },
];

let namespace: string;
let custom: CustomObjectsApi;
/** Cluster-scoped objects a test created, removed afterwards (namespaced ones go with the namespace). */
const clusterObjects: string[] = [];

/** Sends `body` to the API server as a new object of `kind`; resolves to what the server stored. */
function create(kind: Kind, body: object): Promise<unknown> {
  const target = { group: GROUP, version: VERSION, plural: PLURAL_OF[kind], body };
  return kind === 'ClusterTokenIssuer'
    ? custom.createClusterCustomObject(target)
    : custom.createNamespacedCustomObject({ ...target, namespace });
}

/** Creates a valid object and returns it as stored, with the server's defaults applied. */
async function accepted<T>(object: T & { kind: Kind; metadata?: { name?: string } }): Promise<T> {
  if (object.kind === 'ClusterTokenIssuer') clusterObjects.push(object.metadata?.name ?? '');
  return (await create(object.kind, object)) as T;
}

beforeAll(async () => {
  namespace = await createNamespace('api-specs');
  custom = adminKubeConfig().makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  for (const name of clusterObjects) {
    await custom.deleteClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: PLURAL.clusterTokenIssuer,
      name,
    });
  }
});

describe('the API server refuses invalid specs', () => {
  it('has a corpus of at least 24 invalid objects, 6 or more of each kind', () => {
    expect(invalid.length).toBeGreaterThanOrEqual(24);
    for (const kind of Object.keys(PLURAL_OF)) {
      expect(invalid.filter((c) => c.kind === kind).length).toBeGreaterThanOrEqual(6);
    }
  });

  it.each(invalid.map((c) => [`${c.kind}: ${c.what}`, c] as const))('%s', async (_title, c) => {
    const body = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: c.kind,
      metadata: { name: c.name ?? uniqueName('invalid') },
      spec: c.spec,
    };
    const refused = await rejection(() => create(c.kind, body));
    expect(refused.code).toBe(422);
    for (const fragment of c.refusedWith) expect(refused.message).toContain(fragment);
  });
});

describe('the API server accepts valid specs and applies the defaults', () => {
  it('a minimal opaque TokenPolicy', async () => {
    const stored = await accepted<TokenPolicy>({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: KIND.tokenPolicy,
      metadata: { name: uniqueName('minimal') },
      spec: {
        issuerRef: { name: 'payments' },
        token: { type: 'opaque', ttl: '24h', opaque: {} },
        secret: { name: 'token' },
      },
    });
    expect(stored.spec.issuerRef.kind).toBe('ClusterTokenIssuer');
    expect(stored.spec.token.opaque).toEqual({ bytes: 32, encoding: 'base64url' });
    expect(stored.spec.secret.keys).toEqual({
      token: 'TOKEN',
      refreshToken: 'REFRESH_TOKEN',
      expiresAt: 'TOKEN_EXPIRES_AT',
    });
  });

  it('a JWT TokenPolicy with every option, like the design sketch', async () => {
    const spec: TokenPolicy['spec'] = {
      issuerRef: { kind: 'TokenIssuer', name: 'payments' },
      token: {
        type: 'jwt',
        jwt: {
          audience: ['orders-api'],
          subject: 'checkout',
          claims: { tenant: 'acme', roles: ['buyer'], tier: 2 },
        },
        scopes: ['orders:read', 'orders:write'],
        ttl: '24h',
        refresh: { enabled: true, ttl: '720h' },
      },
      rotation: { schedule: '0 3 * * *', timeZone: 'Europe/Berlin', renewBefore: '2h', overlap: '10m' },
      secret: {
        name: 'orders-api-token',
        keys: {
          token: 'TOKEN',
          refreshToken: 'REFRESH_TOKEN',
          expiresAt: 'TOKEN_EXPIRES_AT',
          previous: 'PREVIOUS_TOKEN',
        },
        labels: { 'team.example.com/owner': 'checkout' },
        annotations: { 'example.com/contact': 'checkout@example.com' },
      },
      workloads: [
        { kind: 'Deployment', name: 'checkout' },
        { kind: 'StatefulSet', name: 'checkout' },
      ],
    };
    const stored = await accepted<TokenPolicy>({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: KIND.tokenPolicy,
      metadata: { name: uniqueName('full') },
      spec,
    });
    expect(stored.spec).toEqual({
      ...spec,
      rotation: { ...spec.rotation, historyLimit: 3 },
      onSuspiciousUse: 'alert',
    });
  });

  it('a minimal ClusterTokenIssuer, with signing and guardrail defaults', async () => {
    const stored = await accepted<ClusterTokenIssuer>({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: KIND.clusterTokenIssuer,
      metadata: { name: uniqueName('minimal') },
      spec: { issuer: 'https://tokens.payments.example' },
    });
    expect(stored.spec).toEqual({
      issuer: 'https://tokens.payments.example',
      signing: {
        algorithm: 'EdDSA',
        backend: 'transit',
        rotation: { every: '720h', verifyFor: '48h', publishAhead: '10m' },
      },
      allowed: { maxTtl: '24h' },
    } satisfies TokenIssuerSpec);
  });

  it('a TokenIssuer with Kubernetes auth to its own Vault', async () => {
    const stored = await accepted<TokenIssuer>({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: KIND.tokenIssuer,
      metadata: { name: uniqueName('kubernetes') },
      spec: {
        issuer: 'https://tokens.payments.example/v1',
        vault: {
          address: 'https://vault.vault.svc:8200',
          pathPrefix: 'tokensmith/payments',
          auth: {
            kubernetes: {
              role: 'tokensmith',
              serviceAccountRef: { name: 'tokensmith', audiences: ['vault'] },
            },
          },
        },
        signing: { algorithm: 'ES256', backend: 'kv', rotation: { verifyFor: '72h' } },
        allowed: { audiences: ['orders-*'], scopes: ['orders:*'], maxTtl: '72h' },
      },
    });
    expect(stored.spec.vault?.mount).toBeUndefined(); // the operator's --vault-kv-mount applies
    expect(stored.spec.vault?.auth?.kubernetes?.mountPath).toBe('kubernetes');
    expect(stored.spec.signing?.rotation).toEqual({ every: '720h', verifyFor: '72h', publishAhead: '10m' });
  });

  it('a TokenIssuer with AppRole auth, defaulting the mount and Secret key', async () => {
    const stored = await accepted<TokenIssuer>({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: KIND.tokenIssuer,
      metadata: { name: uniqueName('approle') },
      spec: {
        issuer: 'https://tokens.payments.example',
        vault: { auth: { appRole: { roleId: 'abc-123', secretRef } } },
      },
    });
    expect(stored.spec.vault?.auth?.appRole).toEqual({
      mountPath: 'approle',
      roleId: 'abc-123',
      secretRef: { name: 'vault-credentials', key: 'secretId' },
    });
  });
});

describe('the API server refuses invalid changes', () => {
  it("a change of a TokenPolicy's issuerRef", async () => {
    const name = uniqueName('moved');
    const stored = await accepted<TokenPolicy>({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: KIND.tokenPolicy,
      metadata: { name },
      spec: {
        issuerRef: { name: 'payments' },
        token: { type: 'opaque', ttl: '24h' },
        secret: { name: 'token' },
      },
    });
    const target = { group: GROUP, version: VERSION, namespace, plural: PLURAL.tokenPolicy, name };
    const moved = { ...stored, spec: { ...stored.spec, issuerRef: { kind: 'TokenIssuer', name: 'other' } } };
    const refused = await rejection(() => custom.replaceNamespacedCustomObject({ ...target, body: moved }));
    expect(refused.code).toBe(422);
    expect(refused.message).toContain('spec.issuerRef: Invalid value');
    expect(refused.message).toContain(
      "issuerRef cannot be changed: the policy's tokens are recorded in its issuer's Vault",
    );

    // Other fields may change.
    const longer = { ...stored, spec: { ...stored.spec, token: { ...stored.spec.token, ttl: '48h' } } };
    const replaced = (await custom.replaceNamespacedCustomObject({ ...target, body: longer })) as TokenPolicy;
    expect(replaced.spec.token.ttl).toBe('48h');
  });
});

describe('kubectl explain', () => {
  const run = promisify(execFile);
  const explain = async (field: string) => {
    const env = environment();
    const { stdout } = await run(env.kubectlPath, ['--kubeconfig', env.kubeconfigPath, 'explain', field]);
    return stdout.replace(/\s+/g, ' ');
  };

  it('prints the descriptions of tokenpolicy.spec.rotation and its fields', async () => {
    const text = await explain('tokenpolicy.spec.rotation');
    expect(text).toContain('When a new token replaces the current one');
    expect(text).toContain('renewBefore <string> Rotate when less than this lifetime remains');
    expect(text).toContain(
      'overlap <string> How long the previous token stays valid after the new one is published',
    );
    expect(text).toContain('schedule <string> A cron expression for scheduled rotations');
    expect(text).toContain(
      'historyLimit <integer> How many past token versions are kept in Vault (1 to 50). Defaults to 3.',
    );
  });

  it('prints where a ClusterTokenIssuer reads its Secret references from', async () => {
    const text = await explain('clustertokenissuer.spec.vault.auth.token.secretRef');
    expect(text).toContain("in the operator's cluster resource namespace");
  });
});
