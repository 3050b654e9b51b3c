/**
 * Records events.k8s.io/v1 Events about the objects tokensmith manages, so `kubectl describe` and
 * `kubectl events` tell people what happened. @kubernetes/client-node has no EventRecorder; this one
 * follows client-go's tools/events: a repeat of the same event (same object, type, reason, action
 * and note) within the aggregation window updates the first Event's `series` (count and
 * lastObservedTime) instead of creating another. Recording is best effort and never throws: a
 * failure is logged (status code only) and the caller carries on.
 *
 * Notes are shown to anyone who can read Events: never put token material or response bodies in
 * one (DESIGN.md, invariant 5).
 */
import { randomBytes } from 'node:crypto';
import { EventsV1Api, V1MicroTime, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Clock, RequestLimiter } from '../ports.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger, type WarnLogger } from '../util/logger.ts';
import { kubeErrorFields, kubeStatus } from './apiErrors.ts';

/** The controller name every Event carries in `reportingController`. */
export const REPORTING_CONTROLLER = 'tokensmith.dev/controller';
/** The API's limit on `note`, in bytes. */
export const NOTE_LIMIT_BYTES = 1024;
const FIELD_LIMIT = 128; // reason, action and reportingInstance
export const DEFAULT_AGGREGATION_WINDOW_MS = 10 * 60_000;
export const DEFAULT_MAX_SERIES = 4096;

/** One thing that happened to an object. */
export interface EventInput {
  type: 'Normal' | 'Warning';
  /** Why, in UpperCamelCase from a closed set (e.g. `Rotated`, `VaultUnreachable`); at most 128 chars. */
  reason: string;
  /** What tokensmith did or tried (e.g. `Rotate`, `Revoke`); at most 128 chars. */
  action: string;
  /** For people; truncated to 1024 bytes. Never secret material. */
  note: string;
  /** A second object involved (e.g. the Secret a policy wrote). */
  related?: KubernetesObject;
}

export interface EventRecorderOptions {
  kubeConfig: KubeConfig;
  /** Who reports: the pod name, or the holder identity of the leader Lease. At most 128 chars. */
  reportingInstance: string;
  clock?: Clock;
  logger?: WarnLogger;
  /** Event writes go through it. Default: unlimited. */
  limiter?: RequestLimiter;
  /** Repeats within this time of the last occurrence join its series. Default 10 minutes. */
  aggregationWindowMs?: number;
  /** Series remembered for aggregation, least recently used dropped first. Default 4096. */
  maxSeries?: number;
}

export interface EventRecorder {
  /**
   * Records an event about `regarding`, which needs apiVersion, kind and metadata.name (uid and
   * resourceVersion are copied when present). Resolves when written or given up; never rejects.
   */
  record(regarding: KubernetesObject, event: EventInput): Promise<void>;
}

interface Series {
  namespace: string;
  name: string;
  count: number;
  lastObservedAt: number;
}

/** Creates an EventRecorder that writes through the events.k8s.io/v1 API. */
export function createEventRecorder(options: EventRecorderOptions): EventRecorder {
  const api = options.kubeConfig.makeApiClient(EventsV1Api);
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const limiter = options.limiter ?? { run: <T>(request: () => Promise<T>) => request() };
  const windowMs = options.aggregationWindowMs ?? DEFAULT_AGGREGATION_WINDOW_MS;
  const maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
  const reportingInstance = truncateBytes(options.reportingInstance, FIELD_LIMIT);
  const series = new Map<string, Series>(); // insertion order = least recently used first
  const pending = new Map<string, Promise<void>>(); // one write at a time per series key

  const remember = (key: string, value: Series) => {
    series.delete(key);
    series.set(key, value);
    for (const oldest of series.keys()) {
      if (series.size <= maxSeries) break;
      series.delete(oldest);
    }
  };

  const create = async (key: string, regarding: KubernetesObject, event: EventInput) => {
    const now = clock.now();
    const namespace = regarding.metadata?.namespace || 'default';
    const created = await limiter.run(() =>
      api.createNamespacedEvent({
        namespace,
        body: {
          metadata: { name: eventName(regarding.metadata?.name ?? '', now), namespace },
          eventTime: new V1MicroTime(now.getTime()),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance,
          action: event.action,
          reason: event.reason,
          note: event.note,
          type: event.type,
          regarding: reference(regarding),
          ...(event.related ? { related: reference(event.related) } : {}),
        },
      }),
    );
    remember(key, { namespace, name: created.metadata?.name ?? '', count: 1, lastObservedAt: now.getTime() });
  };

  const repeat = async (key: string, known: Series) => {
    const now = clock.now();
    const count = known.count + 1;
    await limiter.run(() =>
      api.patchNamespacedEvent({
        name: known.name,
        namespace: known.namespace,
        body: [
          { op: 'add', path: '/series', value: { count, lastObservedTime: new V1MicroTime(now.getTime()) } },
        ],
      }),
    );
    remember(key, { ...known, count, lastObservedAt: now.getTime() });
  };

  const write = async (key: string, regarding: KubernetesObject, event: EventInput) => {
    const known = series.get(key);
    if (known && clock.now().getTime() - known.lastObservedAt <= windowMs) {
      try {
        await repeat(key, known);
        return;
      } catch (err) {
        if (kubeStatus(err) !== 404) throw err;
        // The Event expired (the API server keeps Events about an hour): start a new series.
      }
    }
    await create(key, regarding, event);
  };

  return {
    record(regarding, input) {
      const meta = regarding.metadata;
      const subject = `${regarding.kind ?? '?'} ${meta?.namespace ? `${meta.namespace}/` : ''}${meta?.name ?? '?'}`;
      if (!regarding.apiVersion || !regarding.kind || !meta?.name) {
        logger.warn(
          { event: { reason: input.reason, regarding: subject } },
          'event not recorded: regarding needs apiVersion, kind and name',
        );
        return Promise.resolve();
      }
      const event: EventInput = {
        ...input,
        reason: truncateBytes(input.reason, FIELD_LIMIT),
        action: truncateBytes(input.action, FIELD_LIMIT),
        note: truncateBytes(input.note, NOTE_LIMIT_BYTES),
      };
      const identity =
        meta.uid ?? `${regarding.apiVersion}/${regarding.kind}/${meta.namespace ?? ''}/${meta.name}`;
      const key = JSON.stringify([identity, event.type, event.reason, event.action, event.note]);
      const previous = pending.get(key) ?? Promise.resolve();
      const next = previous
        .then(() => write(key, regarding, event))
        .catch((err: unknown) => {
          logger.warn(
            { event: { reason: event.reason, regarding: subject }, err: kubeErrorFields(err) },
            'event not recorded',
          );
        })
        .finally(() => {
          if (pending.get(key) === next) pending.delete(key);
        });
      pending.set(key, next);
      return next;
    },
  };
}

/**
 * `<object name>.<time><random>`, like client-go's `name.%x(nanos)`: a valid DNS subdomain
 * (generateName is no help: the API validates the bare prefix, and a trailing dot fails).
 */
function eventName(objectName: string, now: Date): string {
  const prefix = objectName.slice(0, 200).replace(/[.-]+$/, '') || 'event';
  return `${prefix}.${now.getTime().toString(16)}${randomBytes(4).toString('hex')}`;
}

function reference(obj: KubernetesObject) {
  const meta = obj.metadata ?? {};
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    name: meta.name,
    ...(meta.namespace ? { namespace: meta.namespace } : {}),
    ...(meta.uid ? { uid: meta.uid } : {}),
    ...(meta.resourceVersion ? { resourceVersion: meta.resourceVersion } : {}),
  };
}

/**
 * Cuts `text` to at most `limit` UTF-8 bytes without splitting a character, ending with `…` when
 * it cut. The API measures `note` (1024) and `reason`/`action` (128) in bytes.
 */
export function truncateBytes(text: string, limit: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= limit) return text;
  const marker = '…';
  const budget = limit - encoder.encode(marker).length;
  let bytes = 0;
  let cut = '';
  for (const ch of text) {
    const size = encoder.encode(ch).length;
    if (bytes + size > budget) break;
    bytes += size;
    cut += ch;
  }
  return cut + marker;
}

/** The EventSink of the reconcilers on a recorder: recording never blocks or fails a reconcile. */
export function eventSink(recorder: EventRecorder): {
  record(object: Parameters<EventRecorder['record']>[0], event: Parameters<EventRecorder['record']>[1]): void;
} {
  return {
    record: (object, event) => {
      void recorder.record(object, event);
    },
  };
}
