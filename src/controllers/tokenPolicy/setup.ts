/**
 * The policy controller's registration with the manager: its queue (namespaces take turns) and
 * its watches with their map functions — a policy itself; the policies that reference a changed
 * issuer (from the issuerRef index, not a scan); the policy that owns a changed Secret; every
 * policy of a namespace whose labels changed (they decide which ClusterTokenIssuers serve it).
 */
import type { V1Namespace, V1Secret } from '@kubernetes/client-node';
import { LABEL } from '../../api/constants.ts';
import type { TokenPolicy } from '../../api/v1alpha1.generated.ts';
import type { AnyIssuer } from '../../issuers/identity.ts';
import { issuerKeyOf, policyKeyOf, policyKeys, type PolicyKey } from '../../manager/keys.ts';
import type { ControllerSetup, Manager, Queue } from '../../manager/manager.ts';
import type { Watch } from '../../manager/watch.ts';
import type { ObjectKey } from '../../ports.ts';
import { PolicyChanges } from '../../kube/policyChanges.ts';
import { IssuerRefIndex } from './issuerIndex.ts';
import { TokenPolicyReconciler, type PolicyReconcilerDeps } from './reconciler.ts';

export interface PolicyControllerSetup extends ControllerSetup<PolicyReconcilerDeps> {
  policies: Watch<TokenPolicy>;
  /** The cached policies of a namespace (of every namespace when undefined). */
  policiesIn(namespace?: string): TokenPolicy[];
  issuers: Watch<AnyIssuer>;
  secrets: Watch<V1Secret>;
  /** Secret events of tokensmith's own write need no reconcile; a deleted one is forgotten. */
  secretWrites: {
    isOwnWrite(secret: V1Secret): boolean;
    forget(key: ObjectKey): void;
    settled(key: ObjectKey): Promise<void>;
  };
  /** Likewise for the policy's own status and finalizer writes. */
  policyWrites: {
    isOwnWrite(policy: TokenPolicy): boolean;
    forget(policy: TokenPolicy): void;
    settled(policy: TokenPolicy): Promise<void>;
  };
  namespaces?: Watch<V1Namespace>;
}

export function setupPolicyController(mgr: Manager, setup: PolicyControllerSetup): Queue<PolicyKey> {
  const reconciler = new TokenPolicyReconciler(setup.deps);
  const queue = mgr.addController<PolicyKey>({
    name: 'tokenpolicy',
    keys: policyKeys,
    concurrency: setup.concurrency,
    reconcile: (key) => reconciler.reconcile(key),
    keysOf: () => setup.policiesIn().map(policyKeyOf),
  });
  const index = new IssuerRefIndex();
  // The replicas' usage writes (status.usage) are no reason to reconcile.
  const changes = new PolicyChanges();
  setup.policies.add({
    onChange: (policy) => {
      index.set(policy);
      const change = changes.change(policy);
      if (change === 'none') return;
      // The event of tokensmith's own write may come before that write's answer: wait for it.
      void setup.policyWrites.settled(policy).then(() => {
        if (!setup.policyWrites.isOwnWrite(policy)) queue.add(policyKeyOf(policy), change);
      });
    },
    onDelete: (policy) => {
      index.delete(policy);
      changes.forget(policy);
      setup.policyWrites.forget(policy);
      queue.add(policyKeyOf(policy));
    },
    onResync: (policy) => {
      queue.addSpread(policyKeyOf(policy), setup.resyncSpreadMs);
    },
  });
  const dependents = (issuer: AnyIssuer) => {
    for (const key of index.dependents(issuerKeyOf(issuer))) queue.add(key);
  };
  setup.issuers.add({ onChange: dependents, onDelete: dependents });
  const owner = (secret: V1Secret) => {
    const policy = secret.metadata?.labels?.[LABEL.policy];
    if (policy) queue.add({ namespace: secret.metadata?.namespace ?? '', name: policy });
  };
  setup.secrets.add({
    onChange: (secret) => {
      const key = { namespace: secret.metadata?.namespace ?? '', name: secret.metadata?.name ?? '' };
      void setup.secretWrites.settled(key).then(() => {
        if (!setup.secretWrites.isOwnWrite(secret)) owner(secret);
      });
    },
    onDelete: (secret) => {
      setup.secretWrites.forget({
        namespace: secret.metadata?.namespace ?? '',
        name: secret.metadata?.name ?? '',
      });
      owner(secret);
    },
  });
  const everyPolicyIn = (ns: V1Namespace) => {
    for (const policy of setup.policiesIn(ns.metadata?.name ?? '')) queue.add(policyKeyOf(policy));
  };
  setup.namespaces?.add({ onChange: everyPolicyIn, onDelete: everyPolicyIn });
  return queue;
}
