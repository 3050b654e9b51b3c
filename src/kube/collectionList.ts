/**
 * One full list of a collection for an informer: every page, in the wire form a watch would
 * deliver, filtered by the label selector (a list function that ignored it is warned about) and by
 * `keep`. A list that held a different number of objects than the API server announced is warned
 * about and counted.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WarnLogger } from '../util/logger.ts';
import { listAllPages, type ListedCollection, type ListPage } from './listPages.ts';
import { toWireForm } from './wireForm.ts';

export async function readCollection<T extends KubernetesObject>(options: {
  list: ListPage<T>;
  pageSize: number;
  labelSelector: string | undefined;
  matchesLabels: (labels: Record<string, string> | undefined) => boolean;
  keep: (obj: T) => boolean;
  /** The informer, for messages. */
  path: string;
  logger: WarnLogger;
  /** Counts a mismatch; returns the count so far. */
  onMismatch: () => number;
}): Promise<{ items: T[]; listed: ListedCollection<T> }> {
  const { labelSelector, logger, path } = options;
  const listed = await listAllPages<T>(options.list, { pageSize: options.pageSize, labelSelector });
  const items: T[] = [];
  let ignoredSelector = false;
  for (const page of listed.pages) {
    for (const item of page.items) {
      const obj = toWireForm(item, page.apiVersion, page.kind);
      if (!options.matchesLabels(obj.metadata?.labels)) ignoredSelector = true;
      else if (options.keep(obj)) items.push(obj);
    }
  }
  if (ignoredSelector) {
    logger.warn(
      { informer: path, labelSelector },
      'the list function ignored the label selector; pass it on',
    );
  }
  if (listed.expected !== undefined && listed.expected !== listed.received) {
    const listMismatches = options.onMismatch();
    logger.warn(
      {
        informer: path,
        expected: listed.expected,
        received: listed.received,
        pages: listed.pages.length,
        listMismatches,
      },
      'the list held a different number of objects than the API server announced',
    );
  }
  return { items, listed };
}
