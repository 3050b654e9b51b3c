/**
 * The pure part of restarting workloads: which pod-template annotation records the token version a
 * workload was restarted for, whether a restart is due, the patch that performs it, and what a
 * person should know about how the workload will roll. No I/O; src/kube/workloads.ts does that.
 *
 * A workload is restarted by changing its pod template, as `kubectl rollout restart` does with
 * `kubectl.kubernetes.io/restartedAt`. tokensmith writes one annotation per policy,
 * `token.tokensmith.dev/<policy>` = the token's fingerprint (never the token), so the template
 * itself says which version each policy last restarted it for: a second pass for the same version
 * finds it and leaves the workload alone, and policies sharing a workload do not mask each other.
 */
import { createHash } from 'node:crypto';
import { ANNOTATION } from '../api/constants.ts';

/** Prefix of the per-policy annotation on a restarted workload's pod template. */
export const TOKEN_ANNOTATION_PREFIX = 'token.tokensmith.dev/';

/** The API's limit on the name part of an annotation key (after the `prefix/`). */
const NAME_PART_LIMIT = 63;
/** The name part of a qualified name (k8s.io/apimachinery validation.IsQualifiedName). */
const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const HASH_CHARS = 10;

/**
 * The annotation key for `policyName`: `token.tokensmith.dev/<policyName>`. The CRD keeps policy
 * names to 63 DNS characters, which always fit; anything else (longer, or characters an annotation
 * key refuses) becomes a readable head plus 10 hex characters of its sha256, so the key is still
 * valid, stable and distinct per policy.
 */
export function tokenAnnotationKey(policyName: string): string {
  if (policyName.length <= NAME_PART_LIMIT && NAME_PART.test(policyName)) {
    return `${TOKEN_ANNOTATION_PREFIX}${policyName}`;
  }
  const hash = createHash('sha256').update(policyName).digest('hex').slice(0, HASH_CHARS);
  const head = policyName
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, NAME_PART_LIMIT - HASH_CHARS - 1)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  return `${TOKEN_ANNOTATION_PREFIX}${head ? `${head}-` : ''}${hash}`;
}

/** True when the pod template already carries `fingerprint` under `key`: this version's restart happened. */
export function alreadyRestarted(
  templateAnnotations: Readonly<Record<string, string>> | undefined,
  key: string,
  fingerprint: string,
): boolean {
  return templateAnnotations?.[key] === fingerprint;
}

/** What restartPatch needs. */
export interface RestartPatchInput {
  /** From tokenAnnotationKey. */
  key: string;
  fingerprint: string;
  restartedAt: Date;
  /** The resourceVersion the decision was made on; the API refuses the patch (409) if it moved. */
  resourceVersion: string | undefined;
}

/**
 * The strategic merge patch that restarts a Deployment, StatefulSet or DaemonSet: it sets the two
 * pod-template annotations and nothing else (other annotations, including other policies', are
 * merged, not replaced). With a resourceVersion it is also a precondition, so a restart decided on
 * a stale read is refused instead of repeated.
 */
export function restartPatch(input: RestartPatchInput): object {
  return {
    metadata: input.resourceVersion === undefined ? {} : { resourceVersion: input.resourceVersion },
    spec: {
      template: {
        metadata: {
          annotations: {
            [input.key]: input.fingerprint,
            [ANNOTATION.restartedAt]: input.restartedAt.toISOString(),
          },
        },
      },
    },
  };
}

/** The fields of a workload that decide whether changing its template rolls its pods by itself. */
export interface RolloutShape {
  kind: string;
  spec?: { paused?: boolean; updateStrategy?: { type?: string } };
}

/**
 * A note for a person when a changed template will not replace pods on its own: a paused
 * Deployment rolls out when resumed; a StatefulSet or DaemonSet with `updateStrategy: OnDelete`
 * replaces a pod only when it is deleted. Undefined when the rollout proceeds by itself.
 */
export function rolloutNote(workload: RolloutShape): string | undefined {
  if (workload.kind === 'Deployment' && workload.spec?.paused === true) {
    return 'the Deployment is paused: its pods are replaced when it is resumed';
  }
  if (workload.kind !== 'Deployment' && workload.spec?.updateStrategy?.type === 'OnDelete') {
    return `the ${workload.kind} uses updateStrategy OnDelete: each pod picks up the new token when it is deleted`;
  }
  return undefined;
}
