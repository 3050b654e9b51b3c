/**
 * Helpers for the Vault adapter tests: connections to the environment's Vault, a logger that
 * keeps what it writes, and the leak check every provoked error goes through.
 */
import { inspect } from 'node:util';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { expect } from 'vitest';
import { safeErrorFields, TokensmithError, type ErrorCode } from '../../../src/errors.ts';
import type { RequestLimiter } from '../../../src/ports.ts';
import { VaultClient, type VaultConnection } from '../../../src/vault/client.ts';
import { environment, vaultCaPem } from '../../support/environment.ts';

/** A connection to the environment's Vault with its CA; root token auth unless overridden. */
export function connection(overrides: Partial<VaultConnection> = {}): VaultConnection {
  const env = environment();
  return {
    address: env.vaultAddress,
    caPem: vaultCaPem(),
    auth: { method: 'token', token: env.vaultToken },
    ...overrides,
  };
}

const clients: VaultClient[] = [];

/** A VaultClient (see connection()); closed by closeClients(). */
export function client(overrides: Partial<VaultConnection> = {}): VaultClient {
  const c = new VaultClient(connection(overrides));
  clients.push(c);
  return c;
}

/** Closes every client made by client(); for afterAll. */
export function closeClients(): void {
  for (const c of clients.splice(0)) c.close();
}

/** A pino logger whose output is kept as parsed lines. */
export function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const text = chunk.toString('utf8');
      raw.push(text);
      for (const line of text.split('\n').filter((l) => l !== '')) {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return { logger, lines, text: () => raw.join('') };
}

/** A limiter that runs one request at a time and counts them. */
export function countingLimiter(): RequestLimiter & { count: number; maxInFlight: number } {
  let inFlight = 0;
  let chain: Promise<unknown> = Promise.resolve();
  const limiter = {
    count: 0,
    maxInFlight: 0,
    run<T>(request: () => Promise<T>): Promise<T> {
      const next = chain.then(async () => {
        limiter.count++;
        inFlight++;
        limiter.maxInFlight = Math.max(limiter.maxInFlight, inFlight);
        try {
          return await request();
        } finally {
          inFlight--;
        }
      });
      chain = next.catch(() => undefined);
      return next;
    },
  };
  return limiter;
}

/** The error `promise` rejects with; fails the test if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  expect.fail('expected the call to fail');
}

/**
 * Asserts that `err` is a TokensmithError with `code` and that none of `secrets` appears in its
 * message, String(), JSON, util.inspect (which shows `cause`), or safeErrorFields.
 */
export function expectSafeError(err: unknown, code: ErrorCode, secrets: string[]): TokensmithError {
  expect(err).toBeInstanceOf(TokensmithError);
  const e = err as TokensmithError;
  expect(e.code, e.message).toBe(code);
  expect(e.cause).toBeUndefined();
  expectNoSecrets(
    [e.message, String(e), JSON.stringify(e), inspect(e, { depth: 20 }), JSON.stringify(safeErrorFields(e))],
    secrets,
  );
  return e;
}

/** Asserts that no text contains any of the secrets (nor a long-enough piece of one). */
export function expectNoSecrets(texts: string[], secrets: string[]): void {
  for (const secret of secrets) {
    expect(secret.length, 'a secret to look for must be long enough to be meaningful').toBeGreaterThanOrEqual(
      16,
    );
    const pieces = [secret, secret.slice(0, 16), secret.slice(-16)];
    for (const text of texts) for (const piece of pieces) expect(text).not.toContain(piece);
  }
}
