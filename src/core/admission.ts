/**
 * Which namespaces a ClusterTokenIssuer serves. It signs with the platform's key, so which teams
 * get tokens under its identity is the platform's decision: it names them (`names`), selects them
 * by label (`selector`, a Kubernetes LabelSelector; `{}` selects every namespace), or both (either
 * admits). Unset admits no namespace. Pure: the caller passes the namespace's labels.
 */

/** A Kubernetes LabelSelector, as it appears in a spec. */
export interface LabelSelectorSpec {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly { key: string; operator: string; values?: readonly string[] }[];
}

/** `spec.namespaces` of a ClusterTokenIssuer. */
export interface NamespaceAdmission {
  names?: readonly string[];
  selector?: LabelSelectorSpec;
}

/** Whether `labels` satisfy the selector (every matchLabels entry and every expression). */
export function selectorMatches(
  selector: LabelSelectorSpec,
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, key);
    const matched =
      operator === 'In'
        ? has && values.includes(labels[key] ?? '')
        : operator === 'NotIn'
          ? !has || !values.includes(labels[key] ?? '')
          : operator === 'Exists'
            ? has
            : operator === 'DoesNotExist'
              ? !has
              : false; // an unknown operator selects nothing
    if (!matched) return false;
  }
  return true;
}

/**
 * Why the issuer does not serve `namespace`, or undefined when it does. `labels` undefined means
 * the namespace is not known (not yet cached, or gone): only `names` can admit it then.
 */
export function admissionProblem(input: {
  issuerName: string;
  admission: NamespaceAdmission | undefined;
  namespace: string;
  labels: Readonly<Record<string, string>> | undefined;
}): string | undefined {
  const { admission, namespace, issuerName } = input;
  if (admission?.names?.includes(namespace)) return undefined;
  if (admission?.selector && input.labels && selectorMatches(admission.selector, input.labels))
    return undefined;
  const how =
    admission === undefined || (admission.names === undefined && admission.selector === undefined)
      ? 'it admits no namespace until the platform team sets spec.namespaces (names or a label selector)'
      : 'add the namespace to its spec.namespaces.names, or give the namespace labels its spec.namespaces.selector matches';
  return `ClusterTokenIssuer ${issuerName} does not serve namespace ${namespace}: ${how}`;
}
