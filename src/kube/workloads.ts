/**
 * Restarts the workloads a TokenPolicy names after a new token is published, so that workloads
 * reading it from their environment (env or envFrom the Secret) pick it up within the overlap
 * window.
 *
 * Idempotent by construction: the restart writes `token.tokensmith.dev/<policy>` = the token's
 * fingerprint on the pod template (src/kube/restartAnnotations.ts), and a workload whose template
 * already carries it is left alone. A reconcile that runs again, or an operator that crashed after
 * the restart, finds the annotation and does nothing; each policy on a shared workload restarts it
 * once per its own rotation.
 *
 * Why a strategic merge patch and not server-side apply: the patch names exactly the two template
 * annotations it sets and merges them into what is there, and carries the resourceVersion it was
 * decided on, so a restart decided on a stale read is refused (409) and decided again, never
 * repeated. Server-side apply with the one `tokensmith` field manager would make every apply the
 * complete set of fields tokensmith owns on the object: an apply for policy A that omits policy B's
 * annotation would delete B's, unless each apply re-sent the others' values read moments earlier
 * (racy) or used a field manager per policy. The patch is still attributed to `tokensmith` in
 * managedFields.
 */
import { AppsV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../api/constants.ts';
import type { TokenPolicySpec } from '../api/v1alpha1.generated.ts';
import { safeErrorFields } from '../errors.ts';
import type { Clock, ObjectKey, RequestLimiter } from '../ports.ts';
import { systemClock } from '../util/clock.ts';
import { kubeError, kubeStatus } from './apiErrors.ts';
import { alreadyRestarted, restartPatch, rolloutNote, tokenAnnotationKey } from './restartAnnotations.ts';

/** A workload a policy names: `spec.workloads[]`, always in the policy's namespace. */
export type WorkloadRef = NonNullable<TokenPolicySpec['workloads']>[number];
export type WorkloadKind = WorkloadRef['kind'];

/**
 * What happened to one workload: `restarted` (its pod template now carries the fingerprint),
 * `unchanged` (it already did), `missing` (no such workload; not an error), or `failed` (an API
 * error, described in `message` by operation and status code, never by response body).
 */
export interface WorkloadRestartResult {
  kind: WorkloadKind;
  name: string;
  outcome: 'restarted' | 'unchanged' | 'missing' | 'failed';
  /** Why it failed, or for `restarted`, a note when the pods will not roll by themselves. */
  message?: string;
}

export interface WorkloadRestarter {
  /**
   * Makes sure every workload in `workloads` (in `policy.namespace`) has been restarted for
   * `tokenFingerprint`: reads each one, and patches its pod template only when the policy's
   * annotation differs. Returns one result per distinct workload, in the order given. Never rejects
   * for a workload's failure; rejects (RangeError) only for an empty fingerprint.
   */
  ensureRestartedFor(
    policy: ObjectKey,
    workloads: readonly WorkloadRef[],
    tokenFingerprint: string,
  ): Promise<WorkloadRestartResult[]>;
}

/** The slice of a pino logger the restarter uses. Fields logged are names, kinds and fingerprints. */
export interface RestartLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface WorkloadRestarterOptions {
  kubeConfig: KubeConfig;
  /** Every Kubernetes request (reads and patches) goes through it. */
  limiter: RequestLimiter;
  /**
   * Every restart (a patch that changes a template) waits its turn here, shared by all policies so
   * a mass rotation rolls the cluster gradually, e.g. createRequestLimiter({ qps: 2, burst: 10 }).
   * Workloads found already restarted, or missing, do not take a turn.
   */
  restartLimiter: RequestLimiter;
  /** Stamps `tokensmith.dev/restartedAt`. Default: the system clock. */
  clock?: Clock;
  /** Default: discards everything. */
  logger?: RestartLogger;
  /** Patches refused with 409 Conflict (the workload changed since it was read) before giving up. Default 5. */
  maxConflictAttempts?: number;
}

export const DEFAULT_MAX_CONFLICT_ATTEMPTS = 5;

/** The fields of a workload the restarter reads. */
interface WorkloadObject {
  metadata?: { resourceVersion?: string };
  spec?: {
    template?: { metadata?: { annotations?: Record<string, string> } };
    paused?: boolean;
    updateStrategy?: { type?: string };
  };
}

interface WorkloadApi {
  read(key: ObjectKey): Promise<WorkloadObject>;
  patch(key: ObjectKey, body: object): Promise<WorkloadObject>;
}

const silent: RestartLogger = {
  info() {
    // discarded on purpose
  },
  warn() {
    // discarded on purpose
  },
};

/** Creates a WorkloadRestarter; see WorkloadRestarterOptions for the defaults. */
export function createWorkloadRestarter(options: WorkloadRestarterOptions): WorkloadRestarter {
  const apis = workloadApis(options.kubeConfig);
  const { limiter, restartLimiter } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silent;
  const maxAttempts = options.maxConflictAttempts ?? DEFAULT_MAX_CONFLICT_ATTEMPTS;

  /** The workload, or undefined when it does not exist. */
  async function read(api: WorkloadApi, target: ObjectKey, what: string) {
    try {
      return await limiter.run(() => api.read(target));
    } catch (err) {
      if (kubeStatus(err) === 404) return undefined;
      throw kubeError(`reading ${what}`, err);
    }
  }

  async function ensureOne(
    policy: ObjectKey,
    ref: WorkloadRef,
    fingerprint: string,
  ): Promise<WorkloadRestartResult> {
    const { kind, name } = ref;
    const what = `${kind} ${policy.namespace}/${name}`;
    const api = (apis as Partial<Record<string, WorkloadApi>>)[kind];
    if (api === undefined) return { kind, name, outcome: 'failed', message: `${kind} cannot be restarted` };
    const target = { namespace: policy.namespace, name };
    const key = tokenAnnotationKey(policy.name);
    const done = (w: WorkloadObject) =>
      alreadyRestarted(w.spec?.template?.metadata?.annotations, key, fingerprint);
    try {
      const first = await read(api, target, what);
      if (first === undefined) return { kind, name, outcome: 'missing', message: `${what} not found` };
      if (done(first)) return { kind, name, outcome: 'unchanged' };
      return await restartLimiter.run(async (): Promise<WorkloadRestartResult> => {
        let current = first;
        for (let attempt = 1; ; attempt += 1) {
          const body = restartPatch({
            key,
            fingerprint,
            restartedAt: clock.now(),
            resourceVersion: current.metadata?.resourceVersion,
          });
          try {
            const patched = await limiter.run(() => api.patch(target, body));
            logger.info(
              { tokenPolicy: `${policy.namespace}/${policy.name}`, workload: what, fingerprint },
              'restarted a workload for a new token',
            );
            const note = rolloutNote({ kind, spec: patched.spec });
            return note === undefined
              ? { kind, name, outcome: 'restarted' }
              : { kind, name, outcome: 'restarted', message: note };
          } catch (err) {
            const status = kubeStatus(err);
            if (status === 404) return { kind, name, outcome: 'missing', message: `${what} not found` };
            if (status !== 409 || attempt >= maxAttempts)
              throw kubeError(`patching the pod template of ${what}`, err);
          }
          // Changed since it was read: decide again on a fresh read.
          const fresh = await read(api, target, what);
          if (fresh === undefined) return { kind, name, outcome: 'missing', message: `${what} not found` };
          if (done(fresh)) return { kind, name, outcome: 'unchanged' };
          current = fresh;
        }
      });
    } catch (err) {
      const error = kubeError(`restarting ${what}`, err);
      logger.warn(
        { tokenPolicy: `${policy.namespace}/${policy.name}`, workload: what, ...safeErrorFields(error) },
        'restarting a workload failed',
      );
      return { kind, name, outcome: 'failed', message: error.message };
    }
  }

  return {
    async ensureRestartedFor(policy, workloads, tokenFingerprint) {
      if (tokenFingerprint === '') throw new RangeError('tokenFingerprint must not be empty');
      const seen = new Set<string>();
      const distinct = workloads.filter((w) => {
        const id = `${w.kind}/${w.name}`;
        if (seen.has(id)) return false;
        seen.add(id);
        return true;
      });
      return Promise.all(distinct.map((w) => ensureOne(policy, w, tokenFingerprint)));
    },
  };
}

/** Read and strategic-merge-patch for each kind, the patch attributed to the `tokensmith` manager. */
function workloadApis(kubeConfig: KubeConfig): Record<WorkloadKind, WorkloadApi> {
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
  const request = (key: ObjectKey, body: object) => ({ ...key, body, fieldManager: FIELD_MANAGER });
  return {
    Deployment: {
      read: (key) => apps.readNamespacedDeployment(key),
      patch: (key, body) => apps.patchNamespacedDeployment(request(key, body), merge),
    },
    StatefulSet: {
      read: (key) => apps.readNamespacedStatefulSet(key),
      patch: (key, body) => apps.patchNamespacedStatefulSet(request(key, body), merge),
    },
    DaemonSet: {
      read: (key) => apps.readNamespacedDaemonSet(key),
      patch: (key, body) => apps.patchNamespacedDaemonSet(request(key, body), merge),
    },
  };
}
