/** Maps @kubernetes/client-node errors to the catalogue without their bodies or headers. */
import { ApiException } from '@kubernetes/client-node';
import { TokensmithError, safeErrorFields } from '../errors.ts';

/** The HTTP status of a failed Kubernetes call, or undefined for a transport error. */
export function kubeStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/**
 * A TokensmithError that says which operation failed and the status code, never the response
 * body: ApiException's message embeds body and headers.
 */
export function kubeError(operation: string, err: unknown): TokensmithError {
  if (err instanceof TokensmithError) return err;
  const status = kubeStatus(err);
  let detail = '';
  if (err instanceof ApiException) {
    const body: unknown = typeof err.body === 'string' ? safeParse(err.body) : err.body;
    const reason = (body as { reason?: unknown } | undefined)?.reason;
    if (typeof reason === 'string') detail = ` (${reason})`;
  } else {
    const code = transportCode(err);
    if (code !== undefined) detail = ` (${code})`;
  }
  return new TokensmithError(
    'KubernetesRequestFailed',
    `${operation} failed${status === undefined ? '' : ` with HTTP ${status}`}${detail}`,
    status === undefined ? {} : { status },
  );
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The system or undici code of a request that got no answer (ECONNREFUSED, ECONNRESET,
 * UND_ERR_SOCKET…): on the error itself, or on its cause (fetch wraps it in "TypeError: fetch
 * failed"). Only a code of capitals is taken: nothing else of the error is trusted in a log.
 */
export function transportCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code)) return code;
  }
  return undefined;
}

/** safeErrorFields plus the HTTP status of a failed Kubernetes request, for logs. */
export function kubeErrorFields(err: unknown): { code: string; message: string; status?: number } {
  const code = err instanceof ApiException || err instanceof TokensmithError ? undefined : transportCode(err);
  if (code !== undefined) {
    return { code: 'KubernetesRequestFailed', message: `no answer from the API server (${code})` };
  }
  const fields = safeErrorFields(err);
  const status = kubeStatus(err) ?? (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? { ...fields, status } : fields;
}
