import { describe, expect, it } from 'vitest';
import { VaultBreakers } from '../../../src/vault/breaker.ts';
import { FakeClock } from '../../support/fakeClock.ts';

const A = 'https://vault-a.example:8200';
const B = 'https://vault-b.example:8200';

/** The breaker's refusal for `address`, or undefined when it lets a request through. */
function refusal(breakers: VaultBreakers, address: string): string | undefined {
  try {
    breakers.check(address);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('VaultBreakers', () => {
  it('opens for a server that misbehaved, for 5 s doubling to 5 minutes, and for that server only', async () => {
    const clock = new FakeClock();
    const breakers = new VaultBreakers({ clock });
    expect(refusal(breakers, A)).toBeUndefined();
    breakers.misbehaved(A);
    expect(refusal(breakers, A)).toMatch(
      /ran into the request deadline or the size cap recently; it is not asked again for 5 s/,
    );
    expect(refusal(breakers, B)).toBeUndefined();
    await clock.advance(5_000);
    expect(refusal(breakers, A)).toBeUndefined(); // half open: one more try
    breakers.misbehaved(A);
    expect(refusal(breakers, A)).toMatch(/for 10 s/);
    for (let i = 0; i < 10; i++) {
      await clock.advance(300_000);
      breakers.misbehaved(A);
    }
    expect(refusal(breakers, A)).toMatch(/for 300 s/);
  });

  it('counts requests that fail together while it is open as one misbehaviour', () => {
    const clock = new FakeClock();
    const breakers = new VaultBreakers({ clock });
    for (let i = 0; i < 6; i++) breakers.misbehaved(A); // six workers met the same deadline
    expect(refusal(breakers, A)).toMatch(/for 5 s/);
  });

  it('closes as soon as the server answers', async () => {
    const clock = new FakeClock();
    const breakers = new VaultBreakers({ clock });
    breakers.misbehaved(A);
    await clock.advance(5_000);
    breakers.misbehaved(A);
    await clock.advance(10_000);
    breakers.answered(A);
    expect(refusal(breakers, A)).toBeUndefined();
    breakers.misbehaved(A);
    expect(refusal(breakers, A)).toMatch(/for 5 s/); // counting starts again
  });

  it('tells its listeners once when a server that was down or misbehaving answers again', () => {
    const breakers = new VaultBreakers({ clock: new FakeClock() });
    const recovered: string[] = [];
    breakers.onRecovered((address) => recovered.push(address));
    breakers.answered(A); // was never down: no news
    breakers.unreachable(A);
    breakers.unreachable(A);
    breakers.misbehaved(B);
    breakers.answered(A);
    breakers.answered(A);
    breakers.answered(B);
    expect(recovered).toEqual([A, B]);
  });
});
