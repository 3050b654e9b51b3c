/**
 * One pass of an issuer's key lifecycle over in-memory versions of its two narrow ports (the key
 * versions and the durable key state), to pin down the order of effects of a leaked-key request:
 * recorded (check-and-set) before the rotation, the compromised versions retired right after it,
 * and a crash between any two effects converging on exactly one rotation. The adapters themselves
 * are tested against the real Vault (test/integration/vault, test/integration/controller).
 */
import { describe, expect, it } from 'vitest';
import { runKeyLifecycle, type RotationSettings } from '../../../src/controllers/issuer/keyLifecycle.ts';
import { TokensmithError } from '../../../src/errors.ts';
import type {
  IssuerKeyState,
  IssuerKeyStateStore,
  SigningKeyInfo,
  SigningKeys,
  Versioned,
} from '../../../src/ports.ts';
import { HOUR, T0 } from '../../support/builders.ts';

const SETTINGS: RotationSettings = {
  everyMs: 720 * HOUR,
  verifyForMs: 48 * HOUR,
  publishAheadMs: 0,
  text: { every: '720h', verifyFor: '48h', publishAhead: '0s', maxTtl: '24h' },
};

type Op = 'rotate' | 'retireBelow';

/** Key versions `kid-N`; `crashAfter` makes the next such call take effect, then throw. */
class MemoryKeys implements SigningKeys {
  readonly algorithm = 'EdDSA' as const;
  versions: number[] = [1];
  crashAfter: Op | undefined;
  private readonly ops: string[];
  constructor(ops: string[]) {
    this.ops = ops;
  }
  ensure(): Promise<void> {
    return Promise.resolve();
  }
  list(): Promise<SigningKeyInfo[]> {
    return Promise.resolve(
      this.versions.map((v) => ({
        kid: `kid-${v}`,
        version: v,
        algorithm: 'EdDSA' as const,
        createdAt: T0.toISOString(),
        publicJwk: {},
      })),
    );
  }
  rotate(): Promise<void> {
    this.versions.push((this.versions.at(-1) ?? 0) + 1);
    return this.done('rotate', 'rotate');
  }
  retireBelow(version: number): Promise<void> {
    this.versions = this.versions.filter((v) => v >= version);
    return this.done('retireBelow', `retireBelow ${version}`);
  }
  sign(): Promise<{ signature: Uint8Array; kid: string }> {
    throw new Error('not used');
  }
  private done(op: Op, entry: string): Promise<void> {
    this.ops.push(entry);
    if (this.crashAfter !== op) return Promise.resolve();
    this.crashAfter = undefined;
    return Promise.reject(new Error(`crash after ${op}`));
  }
}

/** The durable state with check-and-set, as the Vault adapter behaves. */
class MemoryState implements IssuerKeyStateStore {
  value: IssuerKeyState | undefined;
  cas = 0;
  private readonly ops: string[];
  constructor(ops: string[]) {
    this.ops = ops;
  }
  read(): Promise<Versioned<IssuerKeyState> | undefined> {
    return Promise.resolve(this.value && { value: this.value, casVersion: this.cas });
  }
  write(state: IssuerKeyState, casVersion: number): Promise<number> {
    if (casVersion !== this.cas) return Promise.reject(new TokensmithError('VaultConflict', 'cas'));
    this.value = structuredClone(state);
    this.cas += 1;
    const leaked = (state.compromised ?? []).map((c) => c.kid).join(',');
    this.ops.push(`write ${state.rotateKey ?? ''} ${state.rotation?.reason ?? ''} [${leaked}]`);
    return Promise.resolve(this.cas);
  }
}

function world() {
  const ops: string[] = [];
  const keys = new MemoryKeys(ops);
  const state = new MemoryState(ops);
  const pass = (requested: string | undefined) =>
    runKeyLifecycle({
      keys,
      keyState: state,
      settings: SETTINGS,
      now: () => T0,
      requested,
      handledInStatus: undefined,
    });
  return { ops, keys, state, pass };
}

describe('runKeyLifecycle with a leaked-key request', () => {
  it('records the leak before rotating, then retires the compromised key at once', async () => {
    const { ops, pass } = world();
    const result = await pass('leaked:1');
    expect(ops).toEqual(['write leaked:1 Compromised [kid-1]', 'rotate', 'retireBelow 2']);
    expect(result.keys.map((k) => k.kid)).toEqual(['kid-2']);
    expect(result.rotated).toMatchObject({ reason: 'Compromised', resumed: false });
    expect(result.retired.map((r) => [r.key.kid, r.compromised])).toEqual([['kid-1', true]]);
    expect(result.compromised).toEqual([{ kid: 'kid-1', version: 1, at: T0.toISOString() }]);
    expect(result.handledRotateKey).toBe('leaked:1');
  });

  it('compromises an older verify-only version with the signer', async () => {
    const { ops, keys, pass } = world();
    keys.versions = [1, 2];
    const result = await pass('leaked');
    expect(ops).toEqual(['write leaked Compromised [kid-1,kid-2]', 'rotate', 'retireBelow 3']);
    expect(result.retired.map((r) => [r.key.kid, r.compromised])).toEqual([
      ['kid-1', true],
      ['kid-2', true],
    ]);
  });

  it.each([
    { crashAfter: 'rotate' as const, resumed: ['retireBelow 2'] },
    { crashAfter: 'retireBelow' as const, resumed: [] },
  ])('a crash after $crashAfter converges on one rotation', async ({ crashAfter, resumed }) => {
    const { ops, keys, state, pass } = world();
    keys.crashAfter = crashAfter;
    await expect(pass('leaked:1')).rejects.toThrow(`crash after ${crashAfter}`);
    ops.length = 0;
    const result = await pass('leaked:1');
    expect(ops).toEqual(resumed);
    expect(result.keys.map((k) => k.kid)).toEqual(['kid-2']);
    expect(result.compromised.map((c) => c.kid)).toEqual(['kid-1']);
    expect(state.cas).toBe(1);
  });

  it('a crash between the record and the rotation: resumed, once', async () => {
    const { ops, keys, state, pass } = world();
    // What a process that died right after its check-and-set write left behind.
    await state.write(
      {
        rotateKey: 'leaked:1',
        rotation: { fromKid: 'kid-1', reason: 'Compromised', at: T0.toISOString() },
        compromised: [{ kid: 'kid-1', version: 1, at: T0.toISOString() }],
      },
      0,
    );
    ops.length = 0;
    const result = await pass('leaked:1');
    expect(ops).toEqual(['rotate', 'retireBelow 2']);
    expect(result.rotated).toMatchObject({ reason: 'Compromised', resumed: true });
    expect(keys.versions).toEqual([2]);
  });

  it('the same value again does nothing; a planned request keeps the old key verify-only', async () => {
    const { ops, keys, pass } = world();
    await pass('leaked:1');
    ops.length = 0;
    await pass('leaked:1');
    expect(ops).toEqual([]);
    const planned = await pass('1700000000');
    expect(ops).toEqual(['write 1700000000 Requested [kid-1]', 'rotate']);
    expect(keys.versions).toEqual([2, 3]);
    expect(planned.decision.keys.map((k) => `${k.kid}:${k.state}`)).toEqual([
      'kid-3:active',
      'kid-2:verify-only',
    ]);
    expect(planned.compromised.map((c) => c.kid)).toEqual(['kid-1']);
  });
});
