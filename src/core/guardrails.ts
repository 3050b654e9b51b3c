/**
 * Whether a policy stays inside its issuer's guardrails. Each check is a named pure function over
 * the same input returning a violation or undefined; they run in order and the first violation
 * becomes the policy's Ready=False message (cert-manager's policies.go shape).
 */
import { formatDuration, parseDuration } from './duration.ts';
import type { PolicySettings } from './settings.ts';

export interface GuardrailInput {
  /** The policy's namespace and name: the identity a subject pattern may use. */
  policy?: { namespace: string; name: string };
  audiences: readonly string[];
  scopes: readonly string[];
  ttl: string;
  /** The refresh token's lifetime, when the policy mints one. */
  refreshTtl?: string;
  /** The JWT `sub`; undefined for opaque tokens. */
  subject?: string;
  /** Names of the extra JWT claims the policy asks for. */
  claimNames?: readonly string[];
  allowed: {
    audiences?: readonly string[];
    scopes?: readonly string[];
    maxTtl?: string;
    maxRefreshTtl?: string;
    /**
     * Patterns the JWT `sub` may match, where `{namespace}` and `{name}` stand for the policy's;
     * default: only the policy's own subject, `system:tokenpolicy:{namespace}:{name}`.
     */
    subjects?: readonly string[];
    /** Names of the extra claims a policy may set; default: none. */
    claims?: readonly string[];
  };
}

export interface GuardrailViolation {
  guardrail: 'audiences' | 'scopes' | 'maxTtl' | 'maxRefreshTtl' | 'subjects' | 'claims';
  message: string;
}

/** The subject a policy's JWTs carry unless its issuer allows others. */
export const DEFAULT_SUBJECT_PATTERN = 'system:tokenpolicy:{namespace}:{name}';

/** The policy's own subject: `system:tokenpolicy:<namespace>:<name>`. */
export function defaultSubject(namespace: string, name: string): string {
  return fillSubjectPattern(DEFAULT_SUBJECT_PATTERN, { namespace, name });
}

/** Puts the policy's namespace and name in for `{namespace}` and `{name}`. */
function fillSubjectPattern(pattern: string, policy: { namespace: string; name: string }): string {
  return pattern.replaceAll('{namespace}', policy.namespace).replaceAll('{name}', policy.name);
}

type Check = (input: GuardrailInput) => GuardrailViolation | undefined;

/**
 * `orders:*` matches `orders:read`; `*` matches anything; otherwise exact. Matched without regular
 * expressions, in time linear in the lengths (each literal piece between stars is found at its
 * leftmost place, which is enough for patterns whose only wildcard is `*`), so a hostile pattern
 * such as `*a*a*a*a*a*b` cannot stall the controller.
 */
export function matchesPattern(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const pieces = pattern.split('*');
  const first = pieces[0] ?? '';
  const last = pieces[pieces.length - 1] ?? '';
  if (first.length + last.length > value.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  let at = first.length;
  const end = value.length - last.length;
  for (const piece of pieces.slice(1, -1)) {
    if (piece === '') continue;
    const found = value.indexOf(piece, at);
    if (found < 0 || found + piece.length > end) return false;
    at = found + piece.length;
  }
  return true;
}

function outside(values: readonly string[], allowed: readonly string[] | undefined): string[] {
  if (allowed === undefined) return [];
  return values.filter((v) => !allowed.some((pattern) => matchesPattern(pattern, v)));
}

const list = (values: readonly string[]) => values.map((v) => `"${v}"`).join(', ');

/** Every audience must match one the issuer allows. */
const audiencesAllowed: Check = (input) => {
  const bad = outside(input.audiences, input.allowed.audiences);
  if (bad.length === 0) return undefined;
  return {
    guardrail: 'audiences',
    message: `audience ${list(bad)} is not allowed by the issuer (allowed: ${list(input.allowed.audiences ?? [])})`,
  };
};

/** Every scope must match one the issuer allows. */
const scopesAllowed: Check = (input) => {
  const bad = outside(input.scopes, input.allowed.scopes);
  if (bad.length === 0) return undefined;
  return {
    guardrail: 'scopes',
    message: `scope ${list(bad)} is not allowed by the issuer (allowed: ${list(input.allowed.scopes ?? [])})`,
  };
};

/** The access token may not outlive the issuer's maxTtl (refresh tokens live longer by design). */
const ttlWithinMax: Check = (input) => {
  if (input.allowed.maxTtl === undefined) return undefined;
  const max = parseDuration(input.allowed.maxTtl);
  if (parseDuration(input.ttl) <= max) return undefined;
  return {
    guardrail: 'maxTtl',
    message: `token.ttl ${input.ttl} exceeds the issuer's maxTtl ${formatDuration(max)}`,
  };
};

/** The refresh token may not outlive the issuer's maxRefreshTtl. */
const refreshTtlWithinMax: Check = (input) => {
  if (input.allowed.maxRefreshTtl === undefined || input.refreshTtl === undefined) return undefined;
  const max = parseDuration(input.allowed.maxRefreshTtl);
  if (parseDuration(input.refreshTtl) <= max) return undefined;
  return {
    guardrail: 'maxRefreshTtl',
    message: `token.refresh.ttl ${input.refreshTtl} exceeds the issuer's maxRefreshTtl ${formatDuration(max)}`,
  };
};

/** The JWT subject must match a pattern the issuer allows; by default only the policy's own. */
const subjectAllowed: Check = (input) => {
  if (input.subject === undefined) return undefined;
  const policy = input.policy ?? { namespace: '', name: '' };
  const patterns = (input.allowed.subjects ?? [DEFAULT_SUBJECT_PATTERN]).map((p) =>
    fillSubjectPattern(p, policy),
  );
  if (patterns.some((pattern) => matchesPattern(pattern, input.subject ?? ''))) return undefined;
  return {
    guardrail: 'subjects',
    message:
      `jwt.subject "${input.subject}" is not allowed by the issuer (allowed: ${list(patterns)}); ` +
      "leave jwt.subject unset for the policy's own subject",
  };
};

/** Every extra claim must be one the issuer names; by default none is. */
const claimsAllowed: Check = (input) => {
  const allowed = input.allowed.claims ?? [];
  const bad = (input.claimNames ?? []).filter((c) => !allowed.includes(c));
  if (bad.length === 0) return undefined;
  return {
    guardrail: 'claims',
    message:
      `claim ${list(bad)} is not allowed by the issuer ` +
      (allowed.length > 0 ? `(allowed: ${list(allowed)})` : '(it allows no extra claims)'),
  };
};

const CHECKS: readonly Check[] = [
  audiencesAllowed,
  scopesAllowed,
  ttlWithinMax,
  refreshTtlWithinMax,
  subjectAllowed,
  claimsAllowed,
];

/** The first guardrail the policy violates, or undefined when it is within all of them. */
export function checkGuardrails(input: GuardrailInput): GuardrailViolation | undefined {
  for (const check of CHECKS) {
    const violation = check(input);
    if (violation) return violation;
  }
  return undefined;
}

/** The guardrail a policy with `settings` (and spec `ttl`) violates on `allowed`; undefined if none. */
export function policyViolation(
  policy: { namespace: string; name: string },
  ttl: string,
  settings: PolicySettings,
  allowed: GuardrailInput['allowed'],
): GuardrailViolation | undefined {
  const { shape } = settings;
  return checkGuardrails({
    policy,
    audiences: shape.jwt?.audience ?? [],
    scopes: shape.scopes,
    ttl,
    ...(shape.refresh ? { refreshTtl: formatDuration(shape.refresh.ttlMs) } : {}),
    ...(shape.jwt ? { subject: shape.jwt.subject, claimNames: Object.keys(shape.jwt.claims) } : {}),
    allowed,
  });
}
