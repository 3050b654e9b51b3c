/**
 * Paging of list requests: a collection of more objects than one page is listed whole, in both
 * shapes a list comes back in (typed models carry `metadata._continue`, custom-object lists the
 * plain JSON `metadata.continue`), the options are passed on, and a short list is reported.
 */
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { continueToken, listAllPages, type ListOptions } from '../../../src/kube/listPages.ts';

type Shape = 'json' | 'typed';

/**
 * An in-memory collection served the way the API server pages it: `limit` objects a page, an
 * opaque continue token while more remain, `remainingItemCount` unless a selector was given.
 */
function collection(count: number, shape: Shape, options: { loseAfterPage?: number } = {}) {
  const objects: KubernetesObject[] = Array.from({ length: count }, (_, i) => ({
    metadata: { name: `obj-${String(i).padStart(5, '0')}`, namespace: 'ns' },
  }));
  const requests: ListOptions[] = [];
  const list = (request: ListOptions): Promise<KubernetesListObject<KubernetesObject>> => {
    requests.push(request);
    const start = request._continue === undefined ? 0 : Number(request._continue.slice('token-'.length));
    let end = Math.min(objects.length, start + request.limit);
    const pageNumber = requests.length;
    const lost = options.loseAfterPage !== undefined && pageNumber > options.loseAfterPage;
    const items = lost ? [] : objects.slice(start, end);
    if (lost) end = objects.length;
    const more = end < objects.length;
    const metadata: Record<string, unknown> = { resourceVersion: `rv-${pageNumber}` };
    if (more) metadata[shape === 'typed' ? '_continue' : 'continue'] = `token-${end}`;
    if (request.labelSelector === undefined) metadata.remainingItemCount = objects.length - end;
    return Promise.resolve({
      apiVersion: 'tokensmith.dev/v1alpha1',
      kind: 'TokenPolicyList',
      metadata,
      items,
    } as KubernetesListObject<KubernetesObject>);
  };
  return { list, requests, objects };
}

const names = (pages: { items: KubernetesObject[] }[]) =>
  pages.flatMap((p) => p.items.map((o) => o.metadata?.name));

describe('listAllPages', () => {
  it.each<Shape>(['json', 'typed'])('lists every page of a %s list', async (shape) => {
    const c = collection(12, shape);
    const listed = await listAllPages(c.list, { pageSize: 5 });
    expect(names(listed.pages)).toEqual(c.objects.map((o) => o.metadata?.name));
    expect(c.requests.map((r) => r._continue)).toEqual([undefined, 'token-5', 'token-10']);
    expect(c.requests.every((r) => r.limit === 5)).toBe(true);
    expect(listed).toMatchObject({ received: 12, expected: 12, resourceVersion: 'rv-1' });
    expect(listed.pages.map((p) => p.kind)).toEqual(['TokenPolicy', 'TokenPolicy', 'TokenPolicy']);
  });

  it('lists 10,000 objects in pages of 500', async () => {
    const c = collection(10_000, 'json');
    const listed = await listAllPages(c.list, { pageSize: 500 });
    expect(listed.received).toBe(10_000);
    expect(new Set(names(listed.pages)).size).toBe(10_000);
    expect(c.requests).toHaveLength(20);
  });

  it('passes the label selector on and expects no count then', async () => {
    const c = collection(7, 'json');
    const listed = await listAllPages(c.list, { pageSize: 5, labelSelector: 'a=b' });
    expect(c.requests.map((r) => r.labelSelector)).toEqual(['a=b', 'a=b']);
    expect(listed).toMatchObject({ received: 7, expected: undefined });
  });

  it('reports a list that held fewer objects than the server announced', async () => {
    const c = collection(12, 'json', { loseAfterPage: 1 });
    const listed = await listAllPages(c.list, { pageSize: 5 });
    expect(listed).toMatchObject({ received: 5, expected: 12 });
  });

  it('lists an empty collection in one request', async () => {
    const c = collection(0, 'typed');
    const listed = await listAllPages(c.list, { pageSize: 5 });
    expect(listed).toMatchObject({ received: 0, expected: 0 });
    expect(c.requests).toHaveLength(1);
  });

  it('takes `items: null` (a metadata-only list of nothing) for an empty page', async () => {
    const list = () =>
      Promise.resolve({
        metadata: { resourceVersion: '7' },
        items: null,
      } as unknown as KubernetesListObject<KubernetesObject>);
    await expect(listAllPages(list, { pageSize: 5 })).resolves.toMatchObject({
      received: 0,
      resourceVersion: '7',
    });
  });

  it('gives up on a server that repeats a continue token instead of looping', async () => {
    const list = () =>
      Promise.resolve({
        metadata: { continue: 'same' },
        items: [{ metadata: { name: 'x' } }],
      } as KubernetesListObject<KubernetesObject>);
    await expect(listAllPages(list, { pageSize: 1 })).rejects.toThrow(/same continue token twice/);
  });
});

describe('continueToken', () => {
  it.each([
    [{ continue: 'abc' }, 'abc'],
    [{ _continue: 'abc' }, 'abc'],
    [{ continue: '' }, undefined],
    [{ _continue: '' }, undefined],
    [{}, undefined],
    [undefined, undefined],
  ])('%j → %s', (metadata, expected) => {
    expect(continueToken(metadata)).toBe(expected);
  });
});
