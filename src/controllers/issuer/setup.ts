/**
 * The issuer controller's registration with the manager: its queue (ClusterTokenIssuers as the
 * platform's group, TokenIssuers by namespace), and its watches — the issuers themselves, and the
 * JWKS ConfigMaps they own (an edit or deletion makes the owner publish again).
 */
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { AnyIssuer } from '../../issuers/identity.ts';
import { issuerKeyOf, issuerKeys, type IssuerKey } from '../../manager/keys.ts';
import type { ControllerSetup, Manager, Queue } from '../../manager/manager.ts';
import type { Watch } from '../../manager/watch.ts';
import { IssuerReconciler, type IssuerReconcilerDeps } from './reconciler.ts';

export interface IssuerControllerSetup extends ControllerSetup<IssuerReconcilerDeps> {
  /** Finds an issuer in the caches; undefined when it is gone. */
  find(key: IssuerKey): AnyIssuer | undefined;
  /** Every cached issuer. */
  all(): AnyIssuer[];
  issuers: Watch<AnyIssuer>;
  configMaps: Watch<V1ConfigMap>;
  /** Whether a ConfigMap event is of tokensmith's own write (no reconcile needed). */
  isOwnWrite(configMap: V1ConfigMap): boolean;
}

export function setupIssuerController(mgr: Manager, setup: IssuerControllerSetup): Queue<IssuerKey> {
  const reconciler = new IssuerReconciler(setup.deps);
  const queue = mgr.addController<IssuerKey>({
    name: 'issuer',
    keys: issuerKeys,
    concurrency: setup.concurrency,
    reconcile: (key) => reconciler.reconcile(setup.find(key)),
    keysOf: () => setup.all().map(issuerKeyOf),
  });
  setup.issuers.add({
    onChange: (issuer) => {
      queue.add(issuerKeyOf(issuer));
    },
    onDelete: (issuer) => {
      queue.add(issuerKeyOf(issuer));
    },
    onResync: (issuer) => {
      queue.addSpread(issuerKeyOf(issuer), setup.resyncSpreadMs);
    },
  });
  const ownerOf = (cm: V1ConfigMap) => {
    const owner = cm.metadata?.ownerReferences?.find((o) => o.controller === true);
    if (owner?.kind === 'ClusterTokenIssuer') queue.add({ kind: 'ClusterTokenIssuer', name: owner.name });
    if (owner?.kind === 'TokenIssuer')
      queue.add({ kind: 'TokenIssuer', namespace: cm.metadata?.namespace ?? '', name: owner.name });
  };
  setup.configMaps.add({
    onChange: (cm) => {
      if (!setup.isOwnWrite(cm)) ownerOf(cm);
    },
    onDelete: ownerOf,
  });
  return queue;
}
