/**
 * Whether a policy stays inside its issuer's guardrails. Each check is a named pure function over
 * the same input returning a violation or undefined; they run in order and the first violation
 * becomes the policy's Ready=False message (cert-manager's policies.go shape).
 */
import { formatDuration, parseDuration } from './duration.ts';

export interface GuardrailInput {
  audiences: readonly string[];
  scopes: readonly string[];
  ttl: string;
  allowed: {
    audiences?: readonly string[];
    scopes?: readonly string[];
    maxTtl?: string;
  };
}

export interface GuardrailViolation {
  guardrail: 'audiences' | 'scopes' | 'maxTtl';
  message: string;
}

type Check = (input: GuardrailInput) => GuardrailViolation | undefined;

/** `orders:*` matches `orders:read`; `*` matches anything; otherwise exact. */
export function matchesPattern(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const regex = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('.*')}$`);
  return regex.test(value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
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

const CHECKS: readonly Check[] = [audiencesAllowed, scopesAllowed, ttlWithinMax];

/** The first guardrail the policy violates, or undefined when it is within all of them. */
export function checkGuardrails(input: GuardrailInput): GuardrailViolation | undefined {
  for (const check of CHECKS) {
    const violation = check(input);
    if (violation) return violation;
  }
  return undefined;
}
