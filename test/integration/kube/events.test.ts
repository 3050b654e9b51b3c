/**
 * The EventRecorder against the real kube-apiserver: Events appear in the events API with the
 * fields `kubectl describe` shows, repeats join a series instead of piling up, the aggregation
 * window ends a series, notes are cut to the API's limit, cluster-scoped objects get their Events
 * in `default`, and a refused write is logged safely instead of thrown.
 */
import { CoreV1Api, EventsV1Api, type EventsV1Event, type KubernetesObject } from '@kubernetes/client-node';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventRecorder, type EventRecorderOptions } from '../../../src/kube/events.ts';
import { FakeClock } from '../../support/fakeClock.ts';
import { adminKubeConfig, bearerKubeConfig, createNamespace, uniqueName } from '../../support/environment.ts';

let namespace: string;
let subject: KubernetesObject;

beforeAll(async () => {
  namespace = await createNamespace('events');
});

beforeEach(async () => {
  const created = await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespacedConfigMap({ namespace, body: { metadata: { name: uniqueName('subject') } } });
  subject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: created.metadata };
});

function recorder(overrides: Partial<EventRecorderOptions> = {}) {
  const warnings: { obj: object; msg: string }[] = [];
  const clock = new FakeClock(new Date());
  const events = createEventRecorder({
    kubeConfig: adminKubeConfig(),
    reportingInstance: 'tokensmith-0',
    clock,
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
    ...overrides,
  });
  return { events, clock, warnings };
}

/** Events about `obj`, read back through the events API. */
async function eventsAbout(obj: KubernetesObject, inNamespace = namespace): Promise<EventsV1Event[]> {
  const list = await adminKubeConfig()
    .makeApiClient(EventsV1Api)
    .listNamespacedEvent({ namespace: inNamespace });
  return list.items.filter((e) => e.regarding?.uid === obj.metadata?.uid);
}

describe('EventRecorder', () => {
  it('creates an events.k8s.io/v1 Event with reporting fields and a full reference', async () => {
    const { events, warnings } = recorder();
    await events.record(subject, {
      type: 'Normal',
      reason: 'Rotated',
      action: 'Rotate',
      note: 'rotated to version 7',
    });
    const [event, ...others] = await eventsAbout(subject);
    expect(others).toEqual([]);
    expect(event).toMatchObject({
      type: 'Normal',
      reason: 'Rotated',
      action: 'Rotate',
      note: 'rotated to version 7',
      reportingController: 'tokensmith.dev/controller',
      reportingInstance: 'tokensmith-0',
      regarding: {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        namespace,
        name: subject.metadata?.name,
        uid: subject.metadata?.uid,
        resourceVersion: subject.metadata?.resourceVersion,
      },
    });
    expect(event?.series).toBeUndefined();
    expect(event?.eventTime).toBeDefined();
    expect(warnings).toEqual([]);
  });

  it('aggregates repeats into a series, and starts a new Event for a new note or after the window', async () => {
    const { events, clock } = recorder();
    const failed = {
      type: 'Warning',
      reason: 'VaultUnreachable',
      action: 'Rotate',
      note: 'Vault could not be reached',
    } as const;
    await events.record(subject, failed);
    await clock.advance(60_000);
    await events.record(subject, failed);
    await clock.advance(60_000);
    await Promise.all([events.record(subject, failed), events.record(subject, failed)]); // serialised, not duplicated
    let found = await eventsAbout(subject);
    expect(found).toHaveLength(1);
    expect(found[0]?.series?.count).toBe(4);
    expect(new Date(found[0]?.series?.lastObservedTime ?? 0).getTime()).toBe(clock.now().getTime());

    await events.record(subject, { ...failed, note: 'Vault is sealed or not ready' });
    found = await eventsAbout(subject);
    expect(found.map((e) => [e.note, e.series?.count]).sort()).toEqual([
      ['Vault could not be reached', 4],
      ['Vault is sealed or not ready', undefined],
    ]);

    await clock.advance(11 * 60_000); // past the 10-minute window since the last occurrence
    await events.record(subject, failed);
    found = await eventsAbout(subject);
    expect(
      found
        .filter((e) => e.note === failed.note)
        .map((e) => e.series?.count ?? 1)
        .sort(),
    ).toEqual([1, 4]);
  });

  it('cuts a long note to the 1024-byte limit', async () => {
    const { events, warnings } = recorder();
    await events.record(subject, {
      type: 'Warning',
      reason: 'InvalidSpec',
      action: 'Validate',
      note: 'ü'.repeat(3000),
    });
    const [event] = await eventsAbout(subject);
    expect(warnings).toEqual([]);
    expect(new TextEncoder().encode(event?.note).length).toBeLessThanOrEqual(1024);
    expect(event?.note?.endsWith('…')).toBe(true);
  });

  it('records Events about cluster-scoped objects in the default namespace', async () => {
    const ns = await adminKubeConfig().makeApiClient(CoreV1Api).readNamespace({ name: namespace });
    const { events, warnings } = recorder();
    await events.record(
      { apiVersion: 'v1', kind: 'Namespace', metadata: ns.metadata },
      {
        type: 'Normal',
        reason: 'Observed',
        action: 'Observe',
        note: 'a cluster-scoped subject',
      },
    );
    expect(warnings).toEqual([]);
    const [event] = await eventsAbout({ metadata: ns.metadata }, 'default');
    expect(event?.regarding).toMatchObject({ kind: 'Namespace', name: namespace });
    expect(event?.regarding?.namespace).toBeUndefined();
  });

  it('never throws: refusals and unusable subjects are logged with safe fields', async () => {
    const forbidden = recorder({ kubeConfig: bearerKubeConfig('not-a-valid-token') });
    await expect(
      forbidden.events.record(subject, { type: 'Normal', reason: 'Rotated', action: 'Rotate', note: 'n' }),
    ).resolves.toBeUndefined();
    expect(forbidden.warnings).toEqual([
      {
        msg: 'event not recorded',
        obj: {
          event: { reason: 'Rotated', regarding: `ConfigMap ${namespace}/${subject.metadata?.name}` },
          err: { code: 'Unexpected', message: 'unexpected ApiException', status: 401 },
        },
      },
    ]);

    const { events, warnings } = recorder();
    await expect(
      events.record(
        { metadata: { name: 'no-kind' } },
        { type: 'Normal', reason: 'R', action: 'A', note: 'n' },
      ),
    ).resolves.toBeUndefined();
    expect(warnings.map((w) => w.msg)).toEqual([
      'event not recorded: regarding needs apiVersion, kind and name',
    ]);
  });
});
