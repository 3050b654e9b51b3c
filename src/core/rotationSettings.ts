/** The issuer's signing.rotation settings, checked (pure; the controller parses them). */

/**
 * Checks what the CRD's CEL rules already refuse, as a second line: a new key must sign before the
 * next one is made, and a rotated-out key must stay in the JWKS at least as long as the longest
 * token it signed can live. Returns a message for
 * people, or undefined.
 */
export function checkRotationSettings(settings: {
  everyMs: number;
  verifyForMs: number;
  publishAheadMs: number;
  maxTtlMs: number;
  /** The spec's texts, for the message. */
  text: { every: string; verifyFor: string; publishAhead: string; maxTtl: string };
}): string | undefined {
  if (!(settings.everyMs > 0)) {
    return `signing.rotation.every (${settings.text.every}) must be longer than 0`;
  }
  if (settings.publishAheadMs >= settings.everyMs) {
    return `signing.rotation.publishAhead (${settings.text.publishAhead}) must be shorter than signing.rotation.every (${settings.text.every}), or a new key would never sign before the next one is made`;
  }
  if (settings.verifyForMs < settings.maxTtlMs) {
    return `signing.rotation.verifyFor (${settings.text.verifyFor}) must cover allowed.maxTtl (${settings.text.maxTtl}), or tokens would stop verifying before they expire`;
  }
  return undefined;
}
