/**
 * Whether what Vault holds at a policy's record path is a record tokensmith can act on. Someone
 * may edit it by hand, restore an old backup, or copy another policy's record there; acting on a
 * half-understood record could publish the wrong token or reuse a version number. So the record is
 * checked whole before anything is decided, and a bad one is reported, never rewritten: the
 * message names the first problem and the field, never a value (a field may hold a token).
 */
const STATES = new Set(['pending', 'active', 'retiring', 'revoked']);
const TYPES = new Set(['opaque', 'jwt']);
const SHA256_HEX = /^[0-9a-f]{64}$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isTime = (v: unknown) => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** The first thing wrong with `value` as the record of policy `namespace/name`; undefined when sound. */
export function recordProblem(
  value: unknown,
  policy: { namespace: string; name: string },
): string | undefined {
  if (!isObject(value)) return 'it is not an object';
  const owner = value.policy;
  if (!isObject(owner) || typeof owner.namespace !== 'string' || typeof owner.name !== 'string')
    return 'policy (namespace, name) is missing';
  if (owner.namespace !== policy.namespace || owner.name !== policy.name)
    return `it is the record of policy ${owner.namespace}/${owner.name}, not of ${policy.namespace}/${policy.name}`;
  if (
    !isObject(value.issuer) ||
    typeof value.issuer.kind !== 'string' ||
    typeof value.issuer.name !== 'string'
  )
    return 'issuer (kind, name) is missing';
  if (!isCount(value.currentVersion)) return 'currentVersion is not a whole number';
  if (!isCount(value.lastVersion)) return 'lastVersion is not a whole number';
  if (!Array.isArray(value.versions)) return 'versions is not a list';
  const seen = new Set<number>();
  let active = 0;
  for (const [i, v] of (value.versions as unknown[]).entries()) {
    const at = `versions[${i}]`;
    if (!isObject(v)) return `${at} is not an object`;
    if (!isCount(v.version) || v.version === 0) return `${at}.version is not a positive whole number`;
    if (seen.has(v.version)) return `version ${v.version} appears twice`;
    seen.add(v.version);
    if (v.version > value.lastVersion)
      return `version ${v.version} is above lastVersion ${value.lastVersion}`;
    if (typeof v.state !== 'string' || !STATES.has(v.state))
      return `${at}.state is not pending, active, retiring or revoked`;
    if (v.state === 'active') active++;
    if (typeof v.type !== 'string' || !TYPES.has(v.type)) return `${at}.type is not opaque or jwt`;
    if (v.state !== 'revoked' && (typeof v.token !== 'string' || v.token === ''))
      return `${at}.token is missing`;
    if (typeof v.tokenHash !== 'string' || !SHA256_HEX.test(v.tokenHash))
      return `${at}.tokenHash is not a sha256 hex digest`;
    if (typeof v.fingerprint !== 'string') return `${at}.fingerprint is missing`;
    if (!Array.isArray(v.scopes) || !v.scopes.every((s) => typeof s === 'string'))
      return `${at}.scopes is not a list of strings`;
    if (typeof v.specHash !== 'string') return `${at}.specHash is missing`;
    if (!isTime(v.issuedAt)) return `${at}.issuedAt is not a time`;
    if (!isTime(v.expiresAt)) return `${at}.expiresAt is not a time`;
    if (v.refreshToken !== undefined && typeof v.refreshToken !== 'string')
      return `${at}.refreshToken is not a string`;
    if (v.grant !== undefined && !isObject(v.grant)) return `${at}.grant is not an object`;
  }
  if (active > 1) return `${active} versions are active (at most one may be)`;
  if (value.currentVersion !== 0 && !seen.has(value.currentVersion))
    return `currentVersion ${value.currentVersion} is not among the versions`;
  if (value.handled !== undefined) {
    if (!isObject(value.handled)) return 'handled is not an object';
    for (const field of ['schedule', 'rotate', 'revoke'])
      if (value.handled[field] !== undefined && typeof value.handled[field] !== 'string')
        return `handled.${field} is not a string`;
  }
  return undefined;
}
