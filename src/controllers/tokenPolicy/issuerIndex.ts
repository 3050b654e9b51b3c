/**
 * Which policies reference which issuer, kept up to date from the policy informer's events (an
 * index, as controller-runtime's field indexers): an issuer event enqueues its dependents without
 * scanning every policy, which at thousands of policies and many issuers is a real cost.
 */
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import { issuerKeys, policyKeyOf, policyKeys, type IssuerKey, type PolicyKey } from '../../manager/keys.ts';

/** The issuer a policy references, as a key. */
export function issuerRefOf(policy: TokenPolicy): IssuerKey {
  const ref = policy.spec.issuerRef;
  return ref.kind === 'TokenIssuer'
    ? { kind: 'TokenIssuer', namespace: policy.metadata?.namespace ?? '', name: ref.name }
    : { kind: 'ClusterTokenIssuer', name: ref.name };
}

export class IssuerRefIndex {
  private readonly byIssuer = new Map<string, Set<string>>();
  private readonly byPolicy = new Map<string, string>();

  /** Records (or updates) what `policy` references. */
  set(policy: TokenPolicy): void {
    const key = policyKeys.encode(policyKeyOf(policy));
    const issuer = issuerKeys.encode(issuerRefOf(policy));
    if (this.byPolicy.get(key) === issuer) return;
    this.remove(key);
    this.byPolicy.set(key, issuer);
    let dependents = this.byIssuer.get(issuer);
    if (!dependents) {
      dependents = new Set();
      this.byIssuer.set(issuer, dependents);
    }
    dependents.add(key);
  }

  delete(policy: TokenPolicy): void {
    this.remove(policyKeys.encode(policyKeyOf(policy)));
  }

  /** The policies that reference `issuer`. */
  dependents(issuer: IssuerKey): PolicyKey[] {
    return [...(this.byIssuer.get(issuerKeys.encode(issuer)) ?? [])].map((k) => policyKeys.decode(k));
  }

  get size(): number {
    return this.byPolicy.size;
  }

  private remove(key: string): void {
    const issuer = this.byPolicy.get(key);
    if (issuer === undefined) return;
    this.byPolicy.delete(key);
    const dependents = this.byIssuer.get(issuer);
    dependents?.delete(key);
    if (dependents?.size === 0) this.byIssuer.delete(issuer);
  }
}
