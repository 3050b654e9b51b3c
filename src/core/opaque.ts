/**
 * Opaque bearer tokens: random bytes from a cryptographic source, encoded, behind an optional
 * prefix that lets secret scanners recognise them (like GitHub's `ghp_`).
 */

export type OpaqueEncoding = 'base64url' | 'hex' | 'base62';

export interface OpaqueShape {
  /** Random bytes; default 32 (256 bits). */
  bytes?: number;
  prefix?: string;
  /** Default base64url. */
  encoding?: OpaqueEncoding;
}

/** A source of cryptographically secure random bytes (crypto.randomBytes in production). */
export type RandomBytes = (size: number) => Uint8Array;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Base62 of `bytes` as a fixed-width big-endian number, so every token has the same length. */
export function base62(bytes: Uint8Array): string {
  const width = Math.ceil((bytes.length * 8) / Math.log2(62));
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = BASE62.charAt(Number(n % 62n)) + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

/** Mints an opaque token of the given shape. */
export function mintOpaque(shape: OpaqueShape, random: RandomBytes): string {
  const bytes = random(shape.bytes ?? 32);
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const body =
    shape.encoding === 'hex'
      ? buffer.toString('hex')
      : shape.encoding === 'base62'
        ? base62(bytes)
        : buffer.toString('base64url');
  return `${shape.prefix ?? ''}${body}`;
}
