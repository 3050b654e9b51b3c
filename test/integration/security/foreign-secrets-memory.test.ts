/**
 * The memory side of foreign-secrets.test.ts, with the controller as its own process (as it runs
 * in a pod): 120 Secrets of 1 MiB each that carry tokensmith's label but are not tokensmith's
 * must not grow the controller's memory. Before, the managed-Secret informer cached every
 * labelled Secret with its data, so the pod's RSS grew by more than the flood (250 of them
 * OOM-killed a 512 MiB pod on every start). The figure compared is the peak RSS (VmHWM) of a
 * controller serving one policy in an empty namespace against one serving the same in the flooded
 * namespace, both measured in this run.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL, MANAGED_BY_VALUE } from '../../../src/api/constants.ts';
import { startController, stopAllControllers } from '../../support/controllerProcess.ts';
import { adminKubeConfig, createNamespace } from '../../support/environment.ts';
import { enableEngine } from '../../support/operator.ts';
import {
  createPolicy,
  createReadyClusterIssuer,
  setIssuerOwner,
  waitForPolicy,
} from '../../support/resources.ts';
import { processStats } from '../../support/spawnController.ts';
import { onIssuer, tokenPolicy } from '../../support/policies.ts';

const FLOOD = 120;
const MiB = 1024 * 1024;

let systemNamespace: string;
let issuer: string;

beforeAll(async () => {
  systemNamespace = await createNamespace('flood-mem-system');
  setIssuerOwner(systemNamespace);
  issuer = await startIssuerThroughController();
}, 60_000);

afterAll(async () => {
  await stopAllControllers();
});

/** The ClusterTokenIssuer is made Ready by a short-lived controller process of this file. */
async function startIssuerThroughController(): Promise<string> {
  const transitMount = await enableEngine('transit', 'transit');
  const controller = startController({
    namespaces: [systemNamespace],
    clusterResourceNamespace: systemNamespace,
  });
  try {
    return await createReadyClusterIssuer('flood-mem', transitMount);
  } finally {
    await controller.stop();
  }
}

async function flood(namespace: string): Promise<void> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const filler = 'x'.repeat(MiB);
  for (let batch = 0; batch < FLOOD; batch += 10) {
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        core.createNamespacedSecret({
          namespace,
          body: {
            metadata: {
              name: `junk-${batch + i}`,
              labels: { [LABEL.managedBy]: MANAGED_BY_VALUE, [LABEL.policy]: `victim-${batch + i}` },
            },
            stringData: { blob: filler },
          },
        }),
      ),
    );
  }
}

/** Peak RSS of a controller process that serves one new policy in `namespace`. */
async function peakRssServing(namespace: string): Promise<number> {
  const controller = startController({ namespaces: [namespace], clusterResourceNamespace: systemNamespace });
  try {
    await createPolicy(namespace, tokenPolicy('real', onIssuer(issuer)));
    await waitForPolicy(namespace, 'real', 'True/Issued', 60_000);
    const stats = processStats(controller.pid);
    if (!stats) throw new Error(`controller exited:\n${controller.tail()}`);
    return stats.peakRssBytes;
  } finally {
    await controller.stop();
  }
}

describe('labelled Secrets tokensmith does not control, with the controller as its own process', () => {
  it('do not grow its memory', { timeout: 240_000 }, async () => {
    const baseline = await peakRssServing(await createNamespace('flood-mem-empty'));
    const flooded = await createNamespace('flood-mem');
    await flood(flooded);
    const peak = await peakRssServing(flooded);
    console.log(
      `controller peak RSS: ${(baseline / MiB).toFixed(0)} MiB beside no Secrets, ` +
        `${(peak / MiB).toFixed(0)} MiB beside ${FLOOD} labelled foreign Secrets of 1 MiB ` +
        `(ratio ${(peak / baseline).toFixed(2)})`,
    );
    // The flood is 120 MiB of data; caching it would add at least that. Metadata adds a few KiB.
    expect(peak - baseline).toBeLessThan(40 * MiB);
  });
});
