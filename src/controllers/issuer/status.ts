/** An issuer's status from its signing keys and the outcome of a reconcile. */
import type { TokenIssuerStatus } from '../../api/v1alpha1.generated.ts';
import { setCondition } from '../../core/conditions.ts';
import type { SigningKeyInfo } from '../../ports.ts';

export function issuerStatus(options: {
  previous: TokenIssuerStatus | undefined;
  generation: number | undefined;
  now: Date;
  keys: SigningKeyInfo[] | undefined;
  jwks: TokenIssuerStatus['jwks'];
  outcome: { ready: boolean; reason: string; message: string };
}): TokenIssuerStatus {
  const conditions = setCondition(
    options.previous?.conditions,
    {
      type: 'Ready',
      status: options.outcome.ready ? 'True' : 'False',
      reason: options.outcome.reason,
      message: options.outcome.message,
    },
    options.now,
    options.generation,
  );
  const status: TokenIssuerStatus = {
    ...(options.generation === undefined ? {} : { observedGeneration: options.generation }),
    conditions,
  };
  const keys = options.keys ?? [];
  const active = keys.at(-1);
  if (active) {
    status.activeKid = active.kid;
    status.keys = keys.map((k) => ({
      kid: k.kid,
      version: k.version,
      algorithm: k.algorithm,
      createdAt: k.createdAt,
      state: k === active ? 'active' : 'verify-only',
    }));
  } else if (options.previous?.keys) {
    status.keys = options.previous.keys;
    if (options.previous.activeKid) status.activeKid = options.previous.activeKid;
  }
  if (options.jwks) status.jwks = options.jwks;
  else if (options.previous?.jwks) status.jwks = options.previous.jwks;
  return status;
}
