/**
 * The one catalogue of tokensmith's errors. Each code names the condition reason a person sees
 * and whether retrying can help. Messages are written for people and never carry token material,
 * keys or response bodies; the original error is kept as `cause` for debugging only and must not
 * be logged whole (log `safeErrorFields(err)` instead).
 */

export const ERRORS = {
  // Vault
  VaultUnreachable: { retryable: true, summary: 'Vault could not be reached' },
  VaultTlsFailed: { retryable: true, summary: 'the TLS handshake with Vault failed' },
  VaultAuthFailed: { retryable: true, summary: 'logging in to Vault failed' },
  VaultPermissionDenied: { retryable: true, summary: 'Vault denied the request' },
  VaultConflict: { retryable: true, summary: 'another writer changed the Vault record first' },
  VaultRequestFailed: { retryable: true, summary: 'a Vault request failed' },
  VaultSealed: { retryable: true, summary: 'Vault is sealed or not ready' },
  // Retried with backoff, so a record fixed in Vault is picked up; tokensmith never rewrites it.
  VaultRecordInvalid: {
    retryable: true,
    summary: "the policy's record in Vault is not one tokensmith can act on",
  },
  // Kubernetes
  KubernetesRequestFailed: { retryable: true, summary: 'a Kubernetes API request failed' },
  // Specs and references
  IssuerNotFound: { retryable: true, summary: 'the referenced issuer does not exist' },
  IssuerNotReady: { retryable: true, summary: 'the referenced issuer is not ready' },
  GuardrailViolated: { retryable: false, summary: 'the policy asks for more than its issuer allows' },
  NamespaceNotAllowed: { retryable: false, summary: "the issuer does not serve the policy's namespace" },
  InvalidSpec: { retryable: false, summary: 'the spec is invalid' },
  SecretNotOwned: { retryable: true, summary: 'the target Secret exists and belongs to something else' },
  ConfigMapNotOwned: { retryable: true, summary: 'the JWKS ConfigMap exists and belongs to something else' },
  CredentialsMissing: { retryable: true, summary: 'a Secret that holds Vault credentials is missing' },
  SigningFailed: { retryable: true, summary: 'signing the token failed' },
  // tokensmith itself
  NotConverging: { retryable: true, summary: 'the policy did not settle within one reconcile' },
  Unexpected: { retryable: true, summary: 'tokensmith hit an unexpected error' },
} as const satisfies Record<string, { retryable: boolean; summary: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error from the catalogue. `reason` is the condition reason shown in status. */
export class TokensmithError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** HTTP status of a failed request, when there was one. */
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; status?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TokensmithError';
    this.code = code;
    this.retryable = ERRORS[code].retryable;
    this.status = options.status;
  }

  get reason(): ErrorCode {
    return this.code;
  }
}

export function isTokensmithError(err: unknown, code?: ErrorCode): err is TokensmithError {
  return err instanceof TokensmithError && (code === undefined || err.code === code);
}

/**
 * The fields of an error that are safe to log: never `cause`, bodies or headers. Errors that are
 * not from the catalogue are reduced to their class name, since their messages may embed
 * response bodies (@kubernetes/client-node's ApiException does).
 */
export function safeErrorFields(err: unknown): { code: string; message: string; status?: number } {
  if (err instanceof TokensmithError) {
    return err.status === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, status: err.status };
  }
  const name = err instanceof Error ? err.constructor.name : typeof err;
  return { code: 'Unexpected', message: `unexpected ${name}` };
}

/**
 * The condition reason and message to show for a failed reconcile: a catalogued error as it is;
 * anything else as Unexpected, naming only its class (its message may embed a response body).
 */
export function describeFailure(err: unknown): { reason: ErrorCode; message: string } {
  if (err instanceof TokensmithError) return { reason: err.reason, message: err.message };
  return {
    reason: 'Unexpected',
    message: `${ERRORS.Unexpected.summary} (${safeErrorFields(err).message}): this is a bug in tokensmith; the controller log has the details, please report it`,
  };
}
