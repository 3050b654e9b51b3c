/**
 * An issuer's signing-key state in KV v2, at `<pathPrefix>/issuer-state`: the rotate-key request
 * last acted on, the last rotation claimed and the compromised key versions (see IssuerKeyState).
 * Written only with check-and-set, so two writers can never both claim one rotation. Holds no
 * secret material (kids are public).
 */
import { TokensmithError } from '../errors.ts';
import type { CompromisedKey, KeyRotationReason, RotationClaim } from '../core/keyRotation.ts';
import type { IssuerKeyState, IssuerKeyStateStore, Versioned } from '../ports.ts';
import type { VaultClient } from './client.ts';
import { KvV2 } from './kv.ts';

/** Where one issuer's state lives. */
export interface VaultIssuerKeyStateOptions {
  client: VaultClient;
  /** The issuer's folder in the mount; the state lives at `<pathPrefix>/issuer-state`. */
  pathPrefix: string;
  /** The KV v2 mount; default `secret`. */
  mount?: string;
}

const REASONS: readonly KeyRotationReason[] = ['Scheduled', 'Requested', 'Compromised'];

function claimOf(value: unknown): RotationClaim | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const c = value as Record<string, unknown>;
  if (typeof c.fromKid !== 'string' || typeof c.at !== 'string') return undefined;
  const reason = REASONS.find((r) => r === c.reason);
  return reason === undefined ? undefined : { fromKid: c.fromKid, reason, at: c.at };
}

/** The compromised keys, or undefined when any entry is malformed (never silently dropped). */
function compromisedOf(value: unknown[]): CompromisedKey[] | undefined {
  const keys: CompromisedKey[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null) return undefined;
    const c = item as Record<string, unknown>;
    if (typeof c.kid !== 'string' || typeof c.version !== 'number' || typeof c.at !== 'string')
      return undefined;
    keys.push({ kid: c.kid, version: c.version, at: c.at });
  }
  return keys;
}

/** IssuerKeyStateStore on KV v2. */
export class VaultIssuerKeyState implements IssuerKeyStateStore {
  private readonly kv: KvV2;
  private readonly path: string;

  constructor(options: VaultIssuerKeyStateOptions) {
    this.kv = new KvV2({
      client: options.client,
      ...(options.mount === undefined ? {} : { mount: options.mount }),
    });
    this.path = `${options.pathPrefix}/issuer-state`;
  }

  async read(): Promise<Versioned<IssuerKeyState> | undefined> {
    const entry = await this.kv.read(this.path);
    if (entry === undefined) return undefined;
    const { rotateKey, rotation, compromised } = entry.data;
    const leaked = Array.isArray(compromised) ? compromisedOf(compromised) : undefined;
    if (
      (rotateKey !== undefined && typeof rotateKey !== 'string') ||
      (compromised !== undefined && leaked === undefined)
    ) {
      throw new TokensmithError(
        'VaultRequestFailed',
        `the Vault entry ${this.kv.mount}/${this.path} does not hold an issuer's key state`,
      );
    }
    const claim = claimOf(rotation);
    return {
      value: {
        ...(rotateKey === undefined ? {} : { rotateKey }),
        ...(claim === undefined ? {} : { rotation: claim }),
        ...(leaked === undefined ? {} : { compromised: leaked }),
      },
      casVersion: entry.version,
    };
  }

  write(state: IssuerKeyState, casVersion: number): Promise<number> {
    return this.kv.write(this.path, state, { cas: casVersion });
  }
}
