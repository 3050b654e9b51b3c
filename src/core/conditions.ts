/**
 * Status conditions as Kubernetes API conventions want them: a closed set of types and reasons,
 * lastTransitionTime kept while the status does not change, observedGeneration always set.
 */

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A condition to set; the time and generation are filled in by setCondition. */
export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Returns `conditions` with `update` applied: a new entry, or the existing one with its
 * lastTransitionTime kept when the status is unchanged. The input is not modified.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: Date,
  generation: number | undefined,
): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === update.type);
  const existing = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    ...update,
    lastTransitionTime:
      existing && existing.status === update.status ? existing.lastTransitionTime : now.toISOString(),
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** The condition of the given type, if present. */
export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/** The outcome of a reconcile, as the Ready condition shows it. */
export interface ReadyOutcome {
  ready: boolean;
  reason: string;
  message: string;
}

/** `conditions` with Ready set from `outcome` (see setCondition). */
export function setReady(
  conditions: readonly Condition[] | undefined,
  outcome: ReadyOutcome,
  now: Date,
  generation: number | undefined,
): Condition[] {
  return setCondition(
    conditions,
    {
      type: 'Ready',
      status: outcome.ready ? 'True' : 'False',
      reason: outcome.reason,
      message: outcome.message,
    },
    now,
    generation,
  );
}
