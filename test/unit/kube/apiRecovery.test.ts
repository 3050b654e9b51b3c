import { describe, expect, it } from 'vitest';
import { ApiException } from '@kubernetes/client-node';
import { kubeError, kubeErrorFields, transportCode } from '../../../src/kube/apiErrors.ts';
import { watchApiRecovery, type RecoverableInformer } from '../../../src/kube/apiRecovery.ts';
import { FakeClock } from '../../support/fakeClock.ts';

/** An informer down since `downSince` (or up), for the watcher. */
class InformerState implements RecoverableInformer {
  downSince: number | undefined;
  transient = true;
  retried = 0;
  private readonly clock: FakeClock;
  constructor(clock: FakeClock) {
    this.clock = clock;
  }
  fail(transient = true): void {
    this.downSince ??= this.clock.now().getTime();
    this.transient = transient;
  }
  get downForMs(): number {
    return this.downSince === undefined ? 0 : this.clock.now().getTime() - this.downSince;
  }
  get downTransiently(): boolean {
    return this.downSince !== undefined && this.transient;
  }
  retryNow(): void {
    this.retried += 1;
    this.downSince = undefined; // the new run lists successfully
  }
}

const quiet = { warn: () => undefined };

function setup() {
  const clock = new FakeClock();
  const informers = [new InformerState(clock), new InformerState(clock)];
  let ready = true;
  let probes = 0;
  const recovered: number[] = [];
  const watcher = watchApiRecovery({
    informers: () => informers,
    probe: () => {
      probes += 1;
      return Promise.resolve(ready);
    },
    clock,
    log: quiet,
    onRecovered: (ms) => recovered.push(ms),
  });
  return {
    clock,
    informers,
    recovered,
    watcher,
    get probes() {
      return probes;
    },
    setReady(value: boolean) {
      ready = value;
    },
  };
}

describe('watchApiRecovery', () => {
  it('asks nothing while every informer is up', async () => {
    const s = setup();
    await s.clock.advance(60_000);
    expect(s.probes).toBe(0);
    expect(s.recovered).toEqual([]);
    s.watcher.stop();
  });

  it('restarts the down informers within a second of the API server being ready, and wakes failed work once', async () => {
    const s = setup();
    s.setReady(false);
    s.informers[0]?.fail();
    s.informers[1]?.fail();
    await s.clock.advance(10_000);
    expect(s.informers.map((i) => i.retried)).toEqual([0, 0]);
    expect(s.probes).toBeGreaterThanOrEqual(9);
    s.setReady(true);
    await s.clock.advance(1_000);
    expect(s.informers.map((i) => i.retried)).toEqual([1, 1]);
    expect(s.recovered).toHaveLength(1);
    expect(s.recovered[0]).toBeGreaterThanOrEqual(10_000);
    await s.clock.advance(10_000);
    expect(s.recovered).toHaveLength(1);
    s.watcher.stop();
  });

  it('leaves an informer refused for another reason (403) to its backoff', async () => {
    const s = setup();
    s.informers[0]?.fail(false);
    await s.clock.advance(30_000);
    expect(s.probes).toBe(0);
    expect(s.informers[0]?.retried).toBe(0);
    s.watcher.stop();
  });

  it('reports recovery also when the informers came back on their own first', async () => {
    const s = setup();
    s.setReady(false);
    s.informers[0]?.fail();
    await s.clock.advance(3_000);
    if (s.informers[0]) s.informers[0].downSince = undefined;
    await s.clock.advance(1_000);
    expect(s.recovered).toHaveLength(1);
    s.watcher.stop();
  });
});

describe('transport errors', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' });
  const fetchFailed = new TypeError('fetch failed', { cause: refused });

  it('names the code of a request that got no answer, from the error or its cause', () => {
    expect(transportCode(fetchFailed)).toBe('ECONNREFUSED');
    expect(transportCode(refused)).toBe('ECONNREFUSED');
    expect(transportCode(new Error('x'))).toBeUndefined();
    expect(transportCode(Object.assign(new Error('x'), { code: 'not a code; secret=1' }))).toBeUndefined();
  });

  it('logs and reports it as a Kubernetes request without an answer, nothing else of the error', () => {
    expect(kubeErrorFields(fetchFailed)).toEqual({
      code: 'KubernetesRequestFailed',
      message: 'no answer from the API server (ECONNREFUSED)',
    });
    expect(kubeError('applying Secret a/b', fetchFailed).message).toBe(
      'applying Secret a/b failed (ECONNREFUSED)',
    );
    const api = new ApiException(403, 'Forbidden: secret body', '{"reason":"Forbidden"}', {});
    expect(kubeErrorFields(api)).toEqual({
      code: 'Unexpected',
      message: 'unexpected ApiException',
      status: 403,
    });
  });
});
