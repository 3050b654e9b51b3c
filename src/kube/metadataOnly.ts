/**
 * Metadata-only lists and watches (controller-runtime's PartialObjectMetadata informers), which
 * @kubernetes/client-node does not offer. The API server then sends each object's metadata and
 * nothing else, so a cache of Secrets or ConfigMaps never holds their data: anyone who may create a
 * Secret carrying tokensmith's label (any namespace admin) could otherwise make it hold hundreds of
 * megabytes. The data of a Secret tokensmith needs is read by exact name when it is needed.
 */
import { request, type RequestOptions } from 'node:https';
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { TokensmithError } from '../errors.ts';
import type { ListOptions } from './listPages.ts';

const LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';
const WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
/** A page of metadata larger than this is not buffered: it is asked for again in smaller pages. */
export const MAX_PAGE_BYTES = 8 * 1024 * 1024;

/**
 * Lists one page of `path` (e.g. `/api/v1/secrets`) as metadata only. Metadata can still be large
 * (annotations hold up to 256 KiB each): a page past the size cap is asked for again with fewer
 * objects, down to one, so nobody can make the collection unreadable by bloating a few objects.
 */
export async function listMetadata<T extends KubernetesObject = KubernetesObject>(
  kubeConfig: KubeConfig,
  path: string,
  options: ListOptions,
): Promise<KubernetesListObject<T>> {
  for (let limit = options.limit; ; limit = Math.max(1, Math.floor(limit / 4))) {
    const page = await listMetadataPage<T>(kubeConfig, path, { ...options, limit });
    if (page !== TOO_LARGE) return page;
    if (limit === 1) {
      throw new TokensmithError(
        'KubernetesRequestFailed',
        `listing ${path}: one object's metadata is larger than ${MAX_PAGE_BYTES} bytes`,
      );
    }
  }
}

const TOO_LARGE = Symbol('too large');

async function listMetadataPage<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  path: string,
  options: ListOptions,
): Promise<KubernetesListObject<T> | typeof TOO_LARGE> {
  const server = new URL(kubeConfig.getCurrentCluster()?.server ?? '');
  const query = new URLSearchParams({ limit: String(options.limit) });
  if (options.labelSelector !== undefined) query.set('labelSelector', options.labelSelector);
  if (options._continue !== undefined) query.set('continue', options._continue);
  const requestOptions: RequestOptions = {
    hostname: server.hostname,
    port: server.port,
    path: `${server.pathname.replace(/\/$/, '')}${path}?${query.toString()}`,
    method: 'GET',
    headers: { accept: LIST_ACCEPT },
  };
  await kubeConfig.applyToHTTPSOptions(requestOptions);
  const answer = await new Promise<{ status: number; text: string } | typeof TOO_LARGE>((resolve, reject) => {
    const req = request(requestOptions, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_PAGE_BYTES) {
          req.destroy();
          resolve(TOO_LARGE);
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  if (answer === TOO_LARGE) return TOO_LARGE;
  if (answer.status !== 200) {
    // The body is the API server's Status; only its code is kept.
    throw new TokensmithError(
      'KubernetesRequestFailed',
      `listing ${path} failed with HTTP ${answer.status}`,
      {
        status: answer.status,
      },
    );
  }
  return JSON.parse(answer.text) as KubernetesListObject<T>;
}

/**
 * The same KubeConfig, but every request it authenticates asks for metadata only: hand it to a
 * Watch, which sets its headers through applySecurityAuthentication.
 */
export function metadataWatchConfig(kubeConfig: KubeConfig): KubeConfig {
  const wrapper = Object.create(kubeConfig) as KubeConfig;
  wrapper.applySecurityAuthentication = async (context) => {
    await kubeConfig.applySecurityAuthentication(context);
    context.setHeaderParam('Accept', WATCH_ACCEPT);
  };
  return wrapper;
}
