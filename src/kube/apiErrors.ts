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
  } else if (err instanceof Error && 'code' in err && typeof err.code === 'string') {
    detail = ` (${err.code})`;
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

/** safeErrorFields plus the HTTP status of a failed Kubernetes request, for logs. */
export function kubeErrorFields(err: unknown): { code: string; message: string; status?: number } {
  const fields = safeErrorFields(err);
  const status = kubeStatus(err) ?? (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === 'number' ? { ...fields, status } : fields;
}
