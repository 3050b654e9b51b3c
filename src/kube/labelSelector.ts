/**
 * Kubernetes label-selector matching, so the informer can check what a list function returned
 * against the selector it watches with: the library applies the selector to the watch only, and a
 * list function that drops it would fill the cache with objects tokensmith must not touch.
 */

/** Labels of an object; absent and empty mean the same. */
export type Labels = Readonly<Record<string, string>> | undefined;

/** Whether an object's labels satisfy the selector. */
export type LabelMatcher = (labels: Labels) => boolean;

// A label key: optional DNS-subdomain prefix and a name; values use the name alphabet.
const KEY = String.raw`[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const VALUE = String.raw`(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const EXISTS = new RegExp(String.raw`^(${KEY})$`);
const NOT_EXISTS = new RegExp(String.raw`^!\s*(${KEY})$`);
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^()]*)\)$`);
const NUMERIC = new RegExp(String.raw`^(${KEY})\s*(<|>)\s*(-?\d+)$`);

/**
 * Compiles a selector in the syntax kubectl and the API accept: `k`, `!k`, `k=v`, `k==v`, `k!=v`,
 * `k in (a,b)`, `k notin (a,b)`, `k>1`, `k<1`, joined by commas (all must hold). The empty
 * selector matches everything. Throws TypeError on a selector the API server would refuse.
 */
export function parseLabelSelector(selector: string): LabelMatcher {
  const requirements = splitRequirements(selector).map(parseRequirement);
  return (labels) => requirements.every((matches) => matches(labels ?? {}));
}

function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (depth < 0 || depth > 1) throw new TypeError(`invalid label selector ${JSON.stringify(selector)}`);
    if (ch === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  if (depth !== 0) throw new TypeError(`invalid label selector ${JSON.stringify(selector)}`);
  parts.push(current.trim());
  if (parts.length === 1 && parts[0] === '') return [];
  return parts;
}

function parseRequirement(requirement: string): (labels: Readonly<Record<string, string>>) => boolean {
  const invalid = () => new TypeError(`invalid label selector requirement ${JSON.stringify(requirement)}`);
  let m = NOT_EXISTS.exec(requirement);
  if (m) {
    const key = m[1] as string;
    return (labels) => !Object.hasOwn(labels, key);
  }
  m = EXISTS.exec(requirement);
  if (m) {
    const key = m[1] as string;
    return (labels) => Object.hasOwn(labels, key);
  }
  m = EQUALITY.exec(requirement);
  if (m) {
    const [, key = '', op, value = ''] = m;
    return op === '!='
      ? (labels) => !Object.hasOwn(labels, key) || labels[key] !== value
      : (labels) => Object.hasOwn(labels, key) && labels[key] === value;
  }
  m = SET.exec(requirement);
  if (m) {
    const [, key = '', op, list = ''] = m;
    const values = new Set(list.split(',').map((v) => v.trim()));
    if ([...values].some((v) => !new RegExp(`^${VALUE}$`).test(v))) throw invalid();
    return op === 'in'
      ? (labels) => Object.hasOwn(labels, key) && values.has(labels[key] ?? '')
      : (labels) => !Object.hasOwn(labels, key) || !values.has(labels[key] ?? '');
  }
  m = NUMERIC.exec(requirement);
  if (m) {
    const [, key = '', op, bound = '0'] = m;
    const limit = Number(bound);
    return (labels) => {
      const value = labels[key];
      if (value === undefined || !/^-?\d+$/.test(value)) return false;
      return op === '>' ? Number(value) > limit : Number(value) < limit;
    };
  }
  throw invalid();
}
