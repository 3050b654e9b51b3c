/**
 * Which version of an issuer's signing key signs now: the choice the issuer controller shows in
 * status and the policy controller makes when it signs (core/keyRotation.ts decides the rest of
 * the key's life).
 */

const ms = (iso: string): number => {
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? 0 : t;
};

/**
 * The version that signs at `now`: the newest one whose `signsFrom` has come — it has been in the
 * JWKS for publishAhead, so verifiers that cache the JWKS know its kid — or, when none has (the
 * first key, or the one made after a leak retired all older ones), the oldest. Compromised
 * versions never sign. Undefined when none may sign. The issuer controller decides states with
 * this; the policy controller picks its signer with it from the versions Vault lists and the
 * times the issuer's status shows (statusSignsFrom).
 */
export function signingKeyOf<K extends { version: number; kid: string }>(
  keys: readonly K[],
  options: { now: Date; signsFrom: (key: K) => number; compromisedKids?: ReadonlySet<string> },
): K | undefined {
  const usable = keys
    .filter((k) => options.compromisedKids?.has(k.kid) !== true)
    .sort((a, b) => a.version - b.version);
  const now = options.now.getTime();
  return usable.findLast((k) => options.signsFrom(k) <= now) ?? usable[0];
}

/**
 * When each version may sign, by the issuer's status: active and verify-only ones already did,
 * a published one from its signsAt, one the status does not show yet never (the issuer
 * controller has not published it: no verifier can know it).
 */
export function statusSignsFrom(
  statusKeys: readonly { kid: string; state?: string; signsAt?: string }[] | undefined,
): (key: { kid: string }) => number {
  const byKid = new Map((statusKeys ?? []).map((k) => [k.kid, k]));
  return (key) => {
    const shown = byKid.get(key.kid);
    if (shown === undefined || shown.state === 'retired') return Infinity;
    return shown.state === 'published' ? ms(shown.signsAt ?? '') || Infinity : 0;
  };
}
