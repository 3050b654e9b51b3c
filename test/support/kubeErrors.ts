import { ApiException } from '@kubernetes/client-node';

/** The HTTP status and Kubernetes Status message of a failed API call, for assertions. */
export interface RejectedCall {
  code: number;
  message: string;
}

/** The status code and Status message of the API server's refusal; rethrows any other error. */
export function refusal(err: unknown): RejectedCall {
  if (!(err instanceof ApiException)) throw err;
  const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  const message = (body as { message?: unknown } | undefined)?.message;
  return { code: err.code, message: typeof message === 'string' ? message : '' };
}

/** Runs `call`, expecting the API server to refuse it; returns the status code and message. */
export async function rejection(call: () => Promise<unknown>): Promise<RejectedCall> {
  try {
    await call();
  } catch (err) {
    return refusal(err);
  }
  throw new Error('expected the API server to refuse the call, but it succeeded');
}
