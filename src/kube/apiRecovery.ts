/**
 * Resuming at once when the API server comes back. While it is away every informer backs off
 * (1 s doubling to 30 s) and every failed reconcile waits out its own retry backoff, so after an
 * outage of a few seconds the watches resumed up to 8 s late and the work later still. Here, while
 * any informer is down for a reason a restart of the API server explains (no answer, or 5xx), the
 * API server's /readyz is asked every second; once it answers 200 (which it does only after its
 * CRD handlers are serving), each such informer is restarted now and, if the API server had been
 * seen away, the work queues' failed keys are made due (Manager.retryFailed), as for Vault.
 * An informer refused for another reason (403: a missing RBAC rule) keeps its backoff.
 */
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Clock } from '../ports.ts';
import type { WarnLogger } from '../util/logger.ts';

/** What the watcher needs of an informer. */
export interface RecoverableInformer {
  readonly downForMs: number;
  readonly downTransiently: boolean;
  retryNow(): void;
}

export interface ApiRecoveryOptions {
  informers: () => readonly RecoverableInformer[];
  /** Resolves true when the API server is ready (GET /readyz answered 200). */
  probe: () => Promise<boolean>;
  clock: Clock;
  log: WarnLogger;
  /** The API server answers again after it was seen away for `downForMs`. */
  onRecovered: (downForMs: number) => void;
  intervalMs?: number;
}

export interface ApiRecovery {
  stop(): void;
}

export function watchApiRecovery(options: ApiRecoveryOptions): ApiRecovery {
  const { clock } = options;
  const intervalMs = options.intervalMs ?? 1000;
  let stopped = false;
  let cancel: (() => void) | undefined;
  /** Since when the probe has failed (undefined: it has not, or nothing is down). */
  let awaySince: number | undefined;

  const tick = async () => {
    const down = options.informers().filter((i) => i.downTransiently);
    if (down.length > 0) {
      const ready = await options.probe().catch(() => false);
      if (stopped) return;
      if (!ready) {
        if (awaySince === undefined) {
          awaySince = clock.now().getTime() - Math.max(...down.map((i) => i.downForMs));
          options.log.warn(
            { informers: down.length },
            'the API server is not ready; asking its /readyz every second to resume the watches as soon as it is',
          );
        }
      } else {
        for (const informer of options.informers()) if (informer.downTransiently) informer.retryNow();
        if (awaySince !== undefined) {
          const downForMs = clock.now().getTime() - awaySince;
          awaySince = undefined;
          options.onRecovered(downForMs);
        }
      }
    } else if (awaySince !== undefined) {
      // The informers recovered on their own backoff before a probe saw the API server ready.
      const downForMs = clock.now().getTime() - awaySince;
      awaySince = undefined;
      options.onRecovered(downForMs);
    }
    if (!stopped) cancel = clock.setTimer(() => void tick(), intervalMs);
  };
  cancel = clock.setTimer(() => void tick(), intervalMs);
  return {
    stop() {
      stopped = true;
      cancel?.();
    },
  };
}

/** GET /readyz with the KubeConfig's credentials; true on 200. Needs no RBAC rule of its own. */
export async function probeReadyz(kubeConfig: KubeConfig, timeoutMs = 2000): Promise<boolean> {
  const server = new URL(kubeConfig.getCurrentCluster()?.server ?? '');
  const options: RequestOptions = {
    hostname: server.hostname,
    port: server.port,
    path: `${server.pathname.replace(/\/$/, '')}/readyz`,
    method: 'GET',
    timeout: timeoutMs,
  };
  await kubeConfig.applyToHTTPSOptions(options);
  const request = server.protocol === 'http:' ? httpRequest : httpsRequest;
  return new Promise<boolean>((resolve) => {
    const req = request(options, (res) => {
      res.resume(); // the body ("ok" or the failing checks) is not needed
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => {
      resolve(false);
    });
    req.end();
  });
}
