/** Resolves a policy's issuerRef to a ready issuer, from the informer caches and the runtimes. */
import { decodeProtectedHeader } from 'jose';
import { admissionProblem } from '../core/admission.ts';
import { findCondition } from '../core/conditions.ts';
import { TokensmithError } from '../errors.ts';
import { signJwt } from '../mint/jwt.ts';
import { statusSignsFrom } from '../core/keySigner.ts';
import type { Clock, ObjectKey } from '../ports.ts';
import type { AnyIssuer } from './identity.ts';
import type { IssuerRef, IssuerResolver, ResolvedIssuer } from './resolved.ts';
import type { IssuerRuntimes } from './runtimes.ts';

/** Looks an issuer up in the caches: TokenIssuers in the policy's namespace, ClusterTokenIssuers by name. */
export type IssuerLookup = (ref: IssuerRef, policyNamespace: string) => AnyIssuer | undefined;

export function describeRef(ref: IssuerRef, policyNamespace: string): string {
  return ref.kind === 'TokenIssuer'
    ? `TokenIssuer ${policyNamespace}/${ref.name}`
    : `ClusterTokenIssuer ${ref.name}`;
}

/** The labels of a namespace from the cache; undefined when it is not known. */
export type NamespaceLabels = (namespace: string) => Readonly<Record<string, string>> | undefined;

export class CachedIssuerResolver implements IssuerResolver {
  private readonly lookup: IssuerLookup;
  private readonly runtimes: IssuerRuntimes;
  private readonly namespaceLabels: NamespaceLabels;
  private readonly clock: Clock;

  constructor(
    lookup: IssuerLookup,
    runtimes: IssuerRuntimes,
    namespaceLabels: NamespaceLabels,
    clock: Clock,
  ) {
    this.lookup = lookup;
    this.runtimes = runtimes;
    this.namespaceLabels = namespaceLabels;
    this.clock = clock;
  }

  async resolve(ref: IssuerRef, policy: ObjectKey): Promise<ResolvedIssuer> {
    const what = describeRef(ref, policy.namespace);
    const issuer = this.lookup(ref, policy.namespace);
    if (!issuer)
      throw new TokensmithError('IssuerNotFound', `${what} does not exist; create it or fix spec.issuerRef`);
    const mintBlockedBy = this.mintBlock(issuer, ref, policy.namespace);
    const compromisedKids = new Set((issuer.status?.compromisedKids ?? []).map((k) => k.kid));
    const runtime = await this.runtimes.get(issuer);
    return {
      ref,
      uid: issuer.metadata?.uid ?? '',
      issuerUrl: issuer.spec.issuer,
      allowed: guardrailsOf(issuer),
      store: runtime.store,
      compromisedKids,
      signJwt: (claims) =>
        this.runtimes.use(issuer, async (r) => {
          const token = await signJwt(r.keys, claims, {
            now: () => this.clock.now(),
            signsFrom: statusSignsFrom(issuer.status?.keys),
            compromisedKids,
          });
          return { token, kid: decodeProtectedHeader(token).kid ?? '' };
        }),
      ...(mintBlockedBy ? { mintBlockedBy } : {}),
    };
  }

  /**
   * Why `issuer` may not mint for a policy of `namespace` now. An issuer whose latest edit the
   * issuer controller has not handled yet is still what it was: Ready=True stays ready (policies do
   * not flap on every issuer edit); one never handled at all is still being set up.
   */
  private mintBlock(issuer: AnyIssuer, ref: IssuerRef, namespace: string): TokensmithError | undefined {
    const what = describeRef(ref, namespace);
    if (issuer.kind === 'ClusterTokenIssuer') {
      const problem = admissionProblem({
        issuerName: ref.name,
        admission: issuer.spec.namespaces,
        namespace,
        labels: this.namespaceLabels(namespace),
      });
      if (problem) return new TokensmithError('NamespaceNotAllowed', problem);
    }
    const ready = findCondition(issuer.status?.conditions, 'Ready');
    if (!ready) {
      return new TokensmithError(
        'IssuerNotReady',
        `${what} is not ready yet: tokensmith is still setting it up`,
      );
    }
    if (ready.status !== 'True')
      return new TokensmithError('IssuerNotReady', `${what} is not ready: ${ready.message}`);
    return undefined;
  }
}

/** The issuer's guardrails, as the pure checks take them (unset fields left out). */
export function guardrailsOf(issuer: AnyIssuer): ResolvedIssuer['allowed'] {
  const allowed = issuer.spec.allowed ?? {};
  return Object.fromEntries(
    (['audiences', 'scopes', 'maxTtl', 'maxRefreshTtl', 'subjects', 'claims'] as const)
      .filter((field) => allowed[field] !== undefined)
      .map((field) => [field, allowed[field]]),
  );
}
