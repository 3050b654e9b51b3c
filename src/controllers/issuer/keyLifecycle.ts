/**
 * The issuer's signing-key lifecycle, one pass: gather (key versions, durable key state) → decide
 * (core/keyRotation.ts) → execute (claim, rotate, retire). A rotation is claimed in Vault with
 * check-and-set before it is made: the claim records the request value it handles and the kid it
 * replaces, so a crash anywhere converges on exactly one rotation per request:
 *
 * - crash before the claim: nothing happened; the request is still new and is acted on;
 * - crash between the claim and rotate(): the claimed kid still signs, so the rotation is resumed;
 * - crash after rotate() (before status or JWKS were written): the request is handled in Vault and
 *   the claimed kid no longer signs, so nothing rotates again; status and JWKS catch up.
 *
 * A leaked-key request (`leaked[:anything]`) also records, in the same write, every version that
 * verifies then as compromised; a compromised version that no longer signs is retired on every
 * pass until it is gone, so a crash after the rotation still retires it. The issuer's status lists
 * the compromised kids, and its policies re-mint every token one of them signed.
 *
 * Concurrent writers (a deposed leader) lose the check-and-set and retry from fresh state.
 */
import { parseDuration } from '../../core/duration.ts';
import {
  decideKeyRotation,
  withCompromised,
  type CompromisedKey,
  type KeyRotationDecision,
  type KeyRotationReason,
} from '../../core/keyRotation.ts';
import { checkRotationSettings } from '../../core/rotationSettings.ts';
import { TokensmithError } from '../../errors.ts';
import type { AnyIssuer } from '../../issuers/identity.ts';
import type { IssuerKeyState, IssuerKeyStateStore, SigningKeyInfo, SigningKeys } from '../../ports.ts';

/** An issuer's `signing.rotation` and `allowed.maxTtl`, parsed and checked. */
export interface RotationSettings {
  everyMs: number;
  verifyForMs: number;
  publishAheadMs: number;
  /** The spec's texts, for messages. */
  text: { every: string; verifyFor: string; publishAhead: string; maxTtl: string };
}

/** Defaults, as the CRD sets them. */
const DEFAULTS = { every: '720h', verifyFor: '48h', publishAhead: '10m', maxTtl: '24h' };

/** Parses the issuer's rotation settings; throws InvalidSpec (terminal) when they cannot work. */
export function rotationSettings(issuer: AnyIssuer): RotationSettings {
  const text = {
    every: issuer.spec.signing?.rotation?.every ?? DEFAULTS.every,
    verifyFor: issuer.spec.signing?.rotation?.verifyFor ?? DEFAULTS.verifyFor,
    publishAhead: issuer.spec.signing?.rotation?.publishAhead ?? DEFAULTS.publishAhead,
    maxTtl: issuer.spec.allowed?.maxTtl ?? DEFAULTS.maxTtl,
  };
  let parsed: { everyMs: number; verifyForMs: number; publishAheadMs: number; maxTtlMs: number };
  try {
    parsed = {
      everyMs: parseDuration(text.every),
      verifyForMs: parseDuration(text.verifyFor),
      publishAheadMs: parseDuration(text.publishAhead),
      maxTtlMs: parseDuration(text.maxTtl),
    };
  } catch (err) {
    throw new TokensmithError('InvalidSpec', (err as Error).message);
  }
  const problem = checkRotationSettings({ ...parsed, text });
  if (problem !== undefined) throw new TokensmithError('InvalidSpec', problem);
  return {
    everyMs: parsed.everyMs,
    verifyForMs: parsed.verifyForMs,
    publishAheadMs: parsed.publishAheadMs,
    text,
  };
}

/** What one pass found and did. */
export interface KeyLifecycleResult {
  /** The versions Vault holds after the pass, oldest first: what the JWKS publishes. */
  keys: SigningKeyInfo[];
  /** The decision over `keys` (states, next rotation, next due time). */
  decision: KeyRotationDecision;
  /** Versions retired in this pass, with when their window ended, and whether compromised. */
  retired: { key: SigningKeyInfo; retireAt: Date | undefined; compromised: boolean }[];
  /** The rotation made in this pass. */
  rotated?: { from: SigningKeyInfo; to: SigningKeyInfo; reason: KeyRotationReason; resumed: boolean };
  /** The rotate-key value handled, durably (undefined when none ever was). */
  handledRotateKey: string | undefined;
  /** The key versions recorded as compromised, durably (oldest first). */
  compromised: CompromisedKey[];
}

/** What a pass needs. */
export interface KeyLifecycleInput {
  keys: SigningKeys;
  keyState: IssuerKeyStateStore;
  settings: RotationSettings;
  now: () => Date;
  /** The tokensmith.dev/rotate-key annotation's value. */
  requested: string | undefined;
  /** status.handledRequests.rotateKey: used only when Vault holds no state yet. */
  handledInStatus: string | undefined;
  /** Told right after a rotation is made (for Events and logs). */
  onRotated?: (rotated: NonNullable<KeyLifecycleResult['rotated']>) => void;
  /** Told right after versions are retired. */
  onRetired?: (retired: KeyLifecycleResult['retired']) => void;
}

/** Runs one pass of the signing key's lifecycle; see the file comment for crash safety. */
export async function runKeyLifecycle(input: KeyLifecycleInput): Promise<KeyLifecycleResult> {
  let keys = await input.keys.list();
  const firstKey = keys.length === 0;
  if (firstKey) {
    await input.keys.ensure();
    keys = await input.keys.list();
  }
  const stored = await input.keyState.read();
  let state: IssuerKeyState = stored?.value ?? {};
  let handled = state.rotateKey ?? input.handledInStatus;
  const decide = (extra: { firstKey?: boolean } = {}) =>
    decideKeyRotation({
      now: input.now(),
      keys,
      everyMs: input.settings.everyMs,
      verifyForMs: input.settings.verifyForMs,
      publishAheadMs: input.settings.publishAheadMs,
      requested: input.requested,
      handled,
      claim: state.rotation,
      compromised: state.compromised,
      ...extra,
    });

  const from = keys.at(-1);
  if (from === undefined) {
    throw new TokensmithError('SigningFailed', 'the signing key has no version after it was created');
  }
  let decision = decide({ firstKey });
  let rotated: KeyLifecycleResult['rotated'];
  if (decision.rotate || decision.handle !== undefined) {
    // Durable before acting: the request is handled, the rotation claimed and, for a leaked key,
    // the compromised versions recorded, in one CAS write (a resumed claim is already durable,
    // unless a newer request joins it).
    const claimNew = decision.rotate !== undefined && !decision.rotate.resumed;
    if (claimNew || decision.handle !== undefined) {
      const next: IssuerKeyState = {
        ...state,
        ...(decision.handle === undefined ? {} : { rotateKey: decision.handle }),
        ...(claimNew && decision.rotate
          ? { rotation: { fromKid: from.kid, reason: decision.rotate.reason, at: input.now().toISOString() } }
          : {}),
        ...(decision.compromise
          ? { compromised: withCompromised(state.compromised, decision.compromise) }
          : {}),
      };
      await input.keyState.write(next, stored?.casVersion ?? 0);
      state = next;
      handled = state.rotateKey ?? handled;
    }
    if (decision.rotate) {
      await input.keys.rotate();
      keys = await input.keys.list();
      const to = keys.at(-1);
      if (to === undefined || to.kid === from.kid) {
        throw new TokensmithError('VaultRequestFailed', 'the signing key rotation made no new key version');
      }
      rotated = { from, to, reason: decision.rotate.reason, resumed: decision.rotate.resumed };
      input.onRotated?.(rotated);
    }
    decision = decide();
  }

  const retired: KeyLifecycleResult['retired'] = [];
  if (decision.retireBelow !== undefined) {
    const below = decision.retireBelow;
    for (const key of keys.filter((k) => k.version < below)) {
      const decided = decision.keys.find((k) => k.version === key.version);
      retired.push({ key, retireAt: decided?.retireAt, compromised: decided?.compromised === true });
    }
    await input.keys.retireBelow(below);
    input.onRetired?.(retired);
    keys = await input.keys.list();
    decision = decide();
  }
  return {
    keys,
    decision,
    retired,
    ...(rotated ? { rotated } : {}),
    handledRotateKey: handled,
    compromised: state.compromised ?? [],
  };
}
