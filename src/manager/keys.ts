/**
 * The typed keys of the work queues and their one string codec each. A queue holds strings (so
 * that it can de-duplicate); everything else speaks in these types. The string forms are
 * `namespace/name` for a policy and `ClusterTokenIssuer/name` or `TokenIssuer/namespace/name` for
 * an issuer. Each key also names its request group: the namespace whose turn it uses.
 */
import type { AnyIssuer } from '../issuers/identity.ts';
import type { ObjectKey } from '../ports.ts';

export interface KeyCodec<K> {
  encode(key: K): string;
  decode(text: string): K;
  /** The tenant a key's work is for (its namespace; '' for the platform's cluster-wide objects). */
  group(key: K): string;
}

export type PolicyKey = ObjectKey;

export type IssuerKey =
  { kind: 'ClusterTokenIssuer'; name: string } | { kind: 'TokenIssuer'; namespace: string; name: string };

export const policyKeys: KeyCodec<PolicyKey> = {
  encode: (key) => `${key.namespace}/${key.name}`,
  decode: (text) => {
    const slash = text.indexOf('/');
    return { namespace: text.slice(0, slash), name: text.slice(slash + 1) };
  },
  group: (key) => key.namespace,
};

export const issuerKeys: KeyCodec<IssuerKey> = {
  encode: (key) =>
    key.kind === 'TokenIssuer'
      ? `TokenIssuer/${key.namespace}/${key.name}`
      : `ClusterTokenIssuer/${key.name}`,
  decode: (text) => {
    const [kind, first = '', second] = text.split('/');
    return kind === 'TokenIssuer'
      ? { kind: 'TokenIssuer', namespace: first, name: second ?? '' }
      : { kind: 'ClusterTokenIssuer', name: first };
  },
  // ClusterTokenIssuers are the platform's: one group of their own.
  group: (key) => (key.kind === 'TokenIssuer' ? key.namespace : ''),
};

/** The key of a policy object. */
export function policyKeyOf(object: { metadata?: { namespace?: string; name?: string } }): PolicyKey {
  return { namespace: object.metadata?.namespace ?? '', name: object.metadata?.name ?? '' };
}

/** The key of an issuer object. */
export function issuerKeyOf(issuer: AnyIssuer): IssuerKey {
  const name = issuer.metadata?.name ?? '';
  return issuer.kind === 'TokenIssuer'
    ? { kind: 'TokenIssuer', namespace: issuer.metadata?.namespace ?? '', name }
    : { kind: 'ClusterTokenIssuer', name };
}
