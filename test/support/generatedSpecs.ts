/**
 * fast-check arbitraries for TokenPolicy and TokenIssuer objects as a tenant could write them, for
 * the property test of hostile input (faults/generated-specs.test.ts): valid specs drawn from each
 * field's whole domain, near-valid ones (a valid spec with one field just past a limit or
 * contradicting another), and garbage (any JSON where a spec or one of its fields belongs), each
 * with sometimes hostile tokensmith.dev/ annotations. Names are made unique by the caller.
 */
import fc from 'fast-check';

type Json = Record<string, unknown>;

export type Family = 'valid' | 'near-valid' | 'garbage';

/** One object to apply. */
export interface GeneratedCase {
  kind: 'TokenPolicy' | 'TokenIssuer';
  family: Family;
  /** What was changed, for near-valid and garbage cases (the report names it). */
  change: string;
  /** A name suffix; undefined: the caller's plain name. A garbage one may be an invalid name. */
  nameSuffix?: string;
  annotations?: Record<string, string>;
  spec: unknown;
}

/** What the generated policies may refer to. */
export interface SpecWorld {
  /**
   * A Ready ClusterTokenIssuer admitting the namespace (audiences/scopes below allowed, and the
   * claims tenant, team and tier).
   */
  clusterIssuer: string;
  audiences: readonly string[];
  scopes: readonly string[];
  /** Names the generated TokenIssuers get (i-0, i-1, …), so policies can refer to them. */
  tokenIssuers: readonly string[];
}

// At least 5m: a third of the lifetime is renewBefore by default, and rotating more often than
// every minute (--min-rotation-interval) is refused.
const durations = fc.constantFrom('5m', '90m', '1h30m', '2h', '24h', '72h', '720h');
const envName = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,30}$/);
const dnsLabel = fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/);
const smallJson = fc.jsonValue({ maxDepth: 2 });
const hostileText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', '../../etc/passwd', '${jndi:ldap://x}', 'a'.repeat(300), '"; DROP'),
);

function optional<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(arb, { nil: undefined });
}

/** Drops keys whose value is undefined (an absent field, as a person would write it). */
function compact(obj: Record<string, unknown>): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

function validPolicy(world: SpecWorld): fc.Arbitrary<Json> {
  const issuerRef = fc.oneof(
    { weight: 6, arbitrary: fc.constant({ name: world.clusterIssuer }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'ClusterTokenIssuer', name: world.clusterIssuer }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(...world.tokenIssuers).map((name) => ({ kind: 'TokenIssuer', name })),
    },
    { weight: 1, arbitrary: fc.constant({ name: 'no-such-issuer' }) },
  );
  const opaque = fc.record(
    {
      bytes: fc.integer({ min: 16, max: 128 }),
      prefix: fc.stringMatching(/^[A-Za-z0-9_-]{0,16}$/),
      encoding: fc.constantFrom('base64url', 'hex', 'base62'),
    },
    { requiredKeys: [] },
  );
  const jwt = fc.record(
    {
      audience: fc.subarray([...world.audiences], { minLength: 1 }),
      claims: fc.dictionary(fc.constantFrom('tenant', 'team', 'tier'), smallJson, { maxKeys: 3 }),
    },
    { requiredKeys: ['audience'] },
  );
  const token = fc.oneof(
    fc
      .record({ opaque: optional(opaque), scopes: optional(fc.subarray([...world.scopes])), ttl: durations })
      .map((t) => compact({ type: 'opaque', ...t })),
    fc
      .record({ jwt, scopes: optional(fc.subarray([...world.scopes])), ttl: durations })
      .map((t) => compact({ type: 'jwt', ...t })),
  );
  const rotation = fc.record(
    {
      schedule: fc.constantFrom('0 3 * * *', '@daily', '*/5 * * * *', '0 0 1 1 *', '@yearly', '30 0 3 * * *'),
      overlap: fc.constantFrom('0s', '10s'),
      historyLimit: fc.integer({ min: 1, max: 50 }),
    },
    { requiredKeys: [] },
  );
  const secret = fc.record(
    {
      keys: optional(
        fc
          .uniqueArray(envName, { minLength: 2, maxLength: 2 })
          .map(([token, expiresAt]) => ({ token, expiresAt })),
      ),
      labels: optional(fc.dictionary(dnsLabel, dnsLabel, { maxKeys: 3 })),
    },
    { requiredKeys: [] },
  );
  return fc
    .record({
      issuerRef,
      token,
      rotation: optional(rotation),
      secret,
      workloads: optional(
        fc.uniqueArray(
          fc.record({ kind: fc.constantFrom('Deployment', 'StatefulSet', 'DaemonSet'), name: dnsLabel }),
          { maxLength: 3, selector: (w) => `${w.kind}/${w.name}` },
        ),
      ),
      onSuspiciousUse: optional(fc.constantFrom('alert', 'revoke')),
      // One in twenty shares one Secret name: one of them owns it, the others must say so. The
      // others get '' here, which the caller replaces with a name of the policy's own.
      shareIndex: fc.integer({ min: 0, max: 19 }),
    })
    .map(({ shareIndex, secret: s, ...rest }) =>
      compact({ ...rest, secret: compact({ name: shareIndex === 0 ? 'shared-secret' : '', ...s }) }),
    );
}

/** A mutation that makes a valid policy spec just invalid (or contradictory), with its name. */
type Mutation = [string, (spec: Json) => Json];

const set =
  (path: string, value: unknown): Mutation[1] =>
  (spec) => {
    const copy = structuredClone(spec);
    const keys = path.split('.');
    let at: Json = copy;
    for (const key of keys.slice(0, -1)) {
      const next = at[key];
      at[key] = typeof next === 'object' && next !== null && !Array.isArray(next) ? next : {};
      at = at[key] as Json;
    }
    at[keys.at(-1) ?? ''] = value;
    return copy;
  };

const policyMutations: Mutation[] = [
  ['ttl 0s', set('token.ttl', '0s')],
  ['ttl 59s', set('token.ttl', '59s')],
  ['ttl in days', set('token.ttl', '1d')],
  ['negative ttl', set('token.ttl', '-1h')],
  ['ttl a number', set('token.ttl', 3600)],
  ['ttl longer than the issuer allows', set('token.ttl', '100000h')],
  ['15 random bytes', set('token.opaque', { bytes: 15 })],
  ['129 random bytes', set('token.opaque', { bytes: 129 })],
  ['bytes a fraction', set('token.opaque', { bytes: 16.5 })],
  ['prefix too long', set('token.opaque', { prefix: 'p'.repeat(17) })],
  ['prefix with a space', set('token.opaque', { prefix: 'bad prefix' })],
  ['unknown encoding', set('token.opaque', { encoding: 'base32' })],
  ['unknown token type', set('token.type', 'bearer')],
  ['jwt claims on an opaque token', set('token.jwt', { audience: ['orders'] })],
  ['jwt without claims', (s) => set('token.type', 'jwt')(set('token.jwt', undefined)(s))],
  ['empty audience', (s) => set('token.type', 'jwt')(set('token.jwt', { audience: [] })(s))],
  ['audience not allowed', (s) => set('token.type', 'jwt')(set('token.jwt', { audience: ['evil'] })(s))],
  [
    '17 audiences',
    (s) =>
      set(
        'token.type',
        'jwt',
      )(set('token.jwt', { audience: Array.from({ length: 17 }, (_, i) => `a${i}`) })(s)),
  ],
  [
    'a registered claim',
    (s) => set('token.type', 'jwt')(set('token.jwt', { audience: ['orders'], claims: { exp: 1 } })(s)),
  ],
  [
    'a subject not the policy’s own',
    (s) => set('token.type', 'jwt')(set('token.jwt', { audience: ['orders'], subject: 'system:admin' })(s)),
  ],
  [
    'a claim the issuer does not allow',
    (s) => set('token.type', 'jwt')(set('token.jwt', { audience: ['orders'], claims: { role: 'admin' } })(s)),
  ],
  ['scope with a space', set('token.scopes', ['orders read'])],
  ['scope not allowed', set('token.scopes', ['admin:everything'])],
  [
    '65 scopes',
    set(
      'token.scopes',
      Array.from({ length: 65 }, (_, i) => `s${i}`),
    ),
  ],
  ['renewBefore past ttl', (s) => set('rotation.renewBefore', '48h')(set('token.ttl', '24h')(s))],
  [
    'overlap past renewBefore',
    (s) => set('rotation.overlap', '2h')(set('rotation.renewBefore', '1h')(set('token.ttl', '24h')(s))),
  ],
  ['renewBefore 0s', set('rotation.renewBefore', '0s')],
  ['schedule not cron', set('rotation.schedule', 'every tuesday')],
  ['schedule minute 61', set('rotation.schedule', '61 * * * *')],
  [
    'unknown time zone',
    (s) => set('rotation.timeZone', 'Mars/Olympus')(set('rotation.schedule', '@daily')(s)),
  ],
  ['time zone without schedule', set('rotation', { timeZone: 'Europe/Berlin' })],
  ['historyLimit 0', set('rotation.historyLimit', 0)],
  ['historyLimit 51', set('rotation.historyLimit', 51)],
  ['Secret name with capitals', set('secret.name', 'Bad_Name')],
  ['Secret name of 300 characters', set('secret.name', 'a'.repeat(300))],
  ['no Secret', set('secret', undefined)],
  ['Secret key not an env name', set('secret.keys', { token: 'not-env' })],
  ['two Secret keys the same', set('secret.keys', { token: 'TOKEN', expiresAt: 'TOKEN' })],
  ['a reserved label', set('secret.labels', { 'tokensmith.dev/policy': 'other' })],
  ['a reserved annotation', set('secret.annotations', { 'tokensmith.dev/rotate': 'x' })],
  ['workload kind Pod', set('workloads', [{ kind: 'Pod', name: 'x' }])],
  [
    'a workload twice',
    set('workloads', [
      { kind: 'Deployment', name: 'x' },
      { kind: 'Deployment', name: 'x' },
    ]),
  ],
  [
    '33 workloads',
    set(
      'workloads',
      Array.from({ length: 33 }, (_, i) => ({ kind: 'Deployment', name: `w${i}` })),
    ),
  ],
  ['refresh ttl below ttl', set('token.refresh', { enabled: true, ttl: '1m' })],
  ['refresh ttl past a year', set('token.refresh', { enabled: true, ttl: '9000h' })],
  ['refresh ttl without enabled', set('token.refresh', { ttl: '720h' })],
  ['issuer kind Issuer', set('issuerRef.kind', 'Issuer')],
  ['empty issuer name', set('issuerRef.name', '')],
  ['issuer name with a slash', set('issuerRef.name', 'other-ns/issuer')],
  ['onSuspiciousUse explode', set('onSuspiciousUse', 'explode')],
  ['consumers namespace invalid', set('consumers', { namespaces: ['Not A Namespace'] })],
  ['unknown field', set('tokenLifetime', '24h')],
];

function validIssuer(): fc.Arbitrary<Json> {
  return fc
    .record({
      host: dnsLabel,
      // verifyFor must cover allowed.maxTtl (up to 720h here; the default verifyFor does not).
      signing: fc.record(
        {
          algorithm: fc.constantFrom('EdDSA', 'ES256', 'RS256'),
          rotation: fc.record({
            every: fc.constantFrom('2160h', '4320h'),
            verifyFor: fc.constantFrom('720h', '1440h'),
          }),
        },
        { requiredKeys: ['rotation'] },
      ),
      allowed: optional(
        fc.record(
          {
            audiences: fc.uniqueArray(dnsLabel, { minLength: 1, maxLength: 3 }),
            scopes: fc.uniqueArray(fc.stringMatching(/^[a-z]{1,8}:[a-z]{1,8}$/), {
              minLength: 1,
              maxLength: 3,
            }),
            maxTtl: fc.constantFrom('24h', '720h'),
          },
          { requiredKeys: [] },
        ),
      ),
    })
    .map(({ host, ...rest }) =>
      compact({
        issuer: `https://${host}.tokens.example`,
        signing: { backend: 'kv', ...rest.signing },
        allowed: rest.allowed,
      }),
    );
}

const issuerMutations: Mutation[] = [
  ['issuer over http', set('issuer', 'http://tokens.example')],
  ['issuer not a URL', set('issuer', 'tokens')],
  ['issuer with a query', set('issuer', 'https://tokens.example/?a=b')],
  ['unknown algorithm', set('signing.algorithm', 'HS256')],
  ['unknown backend', set('signing.backend', 'hsm')],
  [
    'transit mount with a space',
    (s) => set('signing.transitMount', 'my mount')(set('signing.backend', 'transit')(s)),
  ],
  ['key rotation every second', set('signing.rotation', { every: '1s' })],
  ['verifyFor longer than every', set('signing.rotation', { every: '24h', verifyFor: '48h' })],
  ['maxTtl 0s', set('allowed.maxTtl', '0s')],
  [
    'a Vault that refuses connections',
    set('vault', { address: 'https://127.0.0.1:1', auth: { token: { secretRef: { name: 'missing' } } } }),
  ],
  ['a Vault address without auth', set('vault', { address: 'https://127.0.0.1:1' })],
  ['a Vault address over http', set('vault', { address: 'http://vault.example:8200' })],
  [
    'token auth naming a missing Secret',
    set('vault.auth', { token: { secretRef: { name: 'no-such-secret' } } }),
  ],
  ['a path prefix escaping its root', set('vault.pathPrefix', '../../other')],
  ['a caBundle that is not PEM', set('vault.caBundle', 'not a certificate')],
  [
    'two auth methods',
    set('vault.auth', {
      token: { secretRef: { name: 'a' } },
      appRole: { roleId: 'r', secretRef: { name: 'b' } },
    }),
  ],
];

/** Any JSON where the spec, or one field of a valid spec, belongs. */
function garbage(valid: fc.Arbitrary<Json>, fields: readonly string[]): fc.Arbitrary<[string, unknown]> {
  return fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((v): [string, unknown] => ['the whole spec any JSON', v]),
    fc
      .tuple(valid, fc.constantFrom(...fields), fc.jsonValue({ maxDepth: 3 }))
      .map(([spec, path, v]): [string, unknown] => [`${path} any JSON`, set(path, v)(spec)]),
    fc.constant<[string, unknown]>(['no spec', undefined]),
  );
}

const annotations = optional(
  fc.dictionary(
    fc.constantFrom(
      'tokensmith.dev/rotate',
      'tokensmith.dev/revoke',
      'tokensmith.dev/rotate-key',
      'tokensmith.dev/grant-revoked',
      'tokensmith.dev/restartedAt',
      'tokensmith.dev/unknown',
    ),
    fc.oneof(fc.constantFrom('current', 'all', 'previous', 'v1', 'banana', '1', '-1'), hostileText),
    { minKeys: 1, maxKeys: 3 },
  ),
);

function withFamily(
  kind: GeneratedCase['kind'],
  valid: fc.Arbitrary<Json>,
  mutations: Mutation[],
  fields: readonly string[],
): fc.Arbitrary<GeneratedCase> {
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .record({ spec: valid, annotations })
        .map((c) => ({ kind, family: 'valid' as const, change: '', ...c })),
    },
    {
      weight: 4,
      arbitrary: fc
        .record({ spec: valid, m: fc.constantFrom(...mutations), annotations })
        .map(({ spec, m, annotations: a }) => ({
          kind,
          family: 'near-valid' as const,
          change: m[0],
          spec: m[1](spec),
          annotations: a,
        })),
    },
    {
      weight: 2,
      arbitrary: fc
        .record({
          g: garbage(valid, fields),
          annotations,
          nameSuffix: optional(fc.constantFrom('UPPER', '_under', 'dot.ted', '-', 'x'.repeat(260))),
        })
        .map(({ g, annotations: a, nameSuffix }) => ({
          kind,
          family: 'garbage' as const,
          change: g[0],
          spec: g[1],
          annotations: a,
          nameSuffix,
        })),
    },
  );
}

/** Policies and issuers, about one issuer for every six policies. */
export function generatedCase(world: SpecWorld): fc.Arbitrary<GeneratedCase> {
  const policyFields = [
    'issuerRef',
    'token',
    'token.ttl',
    'token.opaque',
    'rotation',
    'secret',
    'secret.keys',
    'workloads',
    'consumers',
  ];
  const issuerFields = ['issuer', 'signing', 'allowed', 'vault', 'namespaces'];
  return fc.oneof(
    { weight: 6, arbitrary: withFamily('TokenPolicy', validPolicy(world), policyMutations, policyFields) },
    { weight: 1, arbitrary: withFamily('TokenIssuer', validIssuer(), issuerMutations, issuerFields) },
  );
}
