/**
 * Lists a whole collection page by page. A list comes back in two shapes: typed lists
 * (`CoreV1Api.listSecretForAllNamespaces`) are deserialized models whose continue token is
 * `metadata._continue`, while custom-object lists are the plain JSON of the API, where it is
 * `metadata.continue`. Reading only one of them stops after the first page, and a cache built from
 * that silently forgets every object past it; so the token is read from either field, here and
 * nowhere else.
 */
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';

/** What a list function is passed; pass all of it on to the API call. */
export interface ListOptions {
  labelSelector?: string;
  limit: number;
  /** The continue token of the previous page (the client's name for the `continue` parameter). */
  _continue?: string;
}

/** A list function: one page of the collection per call. */
export type ListPage<T extends KubernetesObject> = (options: ListOptions) => Promise<KubernetesListObject<T>>;

/** Every page of a list, joined. */
export interface ListedCollection<T extends KubernetesObject> {
  /** The items of every page, in order, with the page's apiVersion and kind. */
  pages: { apiVersion: string | undefined; kind: string | undefined; items: T[] }[];
  /** The resourceVersion of the list (of its first page: later pages are the same snapshot). */
  resourceVersion: string;
  /** Items received over all pages. */
  received: number;
  /**
   * Items the API server said the list holds (the first page's items plus its
   * `remainingItemCount`); undefined when it did not say (it never does for a label selector).
   */
  expected: number | undefined;
}

/** The list metadata fields read here, in either shape. */
interface AnyListMeta {
  resourceVersion?: string;
  _continue?: string;
  continue?: string;
  remainingItemCount?: number;
}

/** The continue token of a page, from a typed model (`_continue`) or plain JSON (`continue`). */
export function continueToken(metadata: AnyListMeta | undefined): string | undefined {
  const token = metadata?._continue ?? metadata?.continue;
  return token === undefined || token === '' ? undefined : token;
}

/** Lists every page (`limit` objects each) through `list`, one request at a time. */
export async function listAllPages<T extends KubernetesObject>(
  list: ListPage<T>,
  options: { pageSize: number; labelSelector?: string | undefined },
): Promise<ListedCollection<T>> {
  const pages: ListedCollection<T>['pages'] = [];
  let resourceVersion: string | undefined;
  let expected: number | undefined;
  let received = 0;
  let token: string | undefined;
  do {
    const request: ListOptions = { limit: options.pageSize };
    if (options.labelSelector !== undefined) request.labelSelector = options.labelSelector;
    if (token !== undefined) request._continue = token;
    const page = await list(request);
    const metadata = page.metadata;
    // Metadata-only lists of nothing say `items: null`.
    const items = (page.items as T[] | null | undefined) ?? [];
    if (pages.length === 0) {
      const remaining = metadata?.remainingItemCount;
      expected = typeof remaining === 'number' ? items.length + remaining : undefined;
    }
    resourceVersion ??= metadata?.resourceVersion;
    received += items.length;
    const kind = page.kind?.endsWith('List') ? page.kind.slice(0, -4) : undefined;
    pages.push({ apiVersion: page.apiVersion, kind, items });
    const next = continueToken(metadata);
    if (next !== undefined && next === token) {
      throw new Error('the API server returned the same continue token twice; giving up this list');
    }
    token = next;
  } while (token !== undefined);
  return { pages, resourceVersion: resourceVersion ?? '', received, expected };
}
