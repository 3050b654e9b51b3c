/**
 * recordProblem: a hand-edited, restored or copied Vault record is named for what is wrong with it
 * (the field, never its value), and a sound one passes.
 */
import { describe, expect, it } from 'vitest';
import { recordProblem } from '../../../src/core/recordCheck.ts';
import { record, retiring, revoked, version } from '../../support/builders.ts';

const POLICY = { namespace: 'team', name: 'orders' };
const hex = (n: number) => String(n).repeat(64).slice(0, 64);
const sound = () =>
  record(
    2,
    { ...version(1, revoked()), token: undefined, tokenHash: hex(1) },
    { ...version(2), tokenHash: hex(2) },
  ) as unknown as Record<string, unknown>;
type Edit = (r: Record<string, unknown>) => unknown;
const at = (r: Record<string, unknown>, i: number) => (r.versions as Record<string, unknown>[])[i] ?? {};

describe('recordProblem', () => {
  it('passes a sound record, a revoked version without its token, and a record before the first version', () => {
    expect(recordProblem(sound(), POLICY)).toBeUndefined();
    expect(recordProblem({ ...record(0), lastVersion: 0 }, POLICY)).toBeUndefined();
    const withRetiring = record(
      2,
      { ...version(1, retiring(0)), tokenHash: hex(1) },
      { ...version(2), tokenHash: hex(2) },
    );
    expect(recordProblem(withRetiring, POLICY)).toBeUndefined();
  });

  it.each<[string, Edit, RegExp]>([
    ['not an object', () => 'garbage', /not an object/],
    ['a list', () => [1, 2], /not an object/],
    ['no policy', (r) => ({ ...r, policy: undefined }), /policy \(namespace, name\) is missing/],
    [
      'another policy’s record',
      (r) => ({ ...r, policy: { namespace: 'team', name: 'billing' } }),
      /record of policy team\/billing, not of team\/orders/,
    ],
    ['no issuer', (r) => ({ ...r, issuer: 'payments' }), /issuer \(kind, name\) is missing/],
    [
      'currentVersion a string',
      (r) => ({ ...r, currentVersion: '2' }),
      /currentVersion is not a whole number/,
    ],
    ['lastVersion negative', (r) => ({ ...r, lastVersion: -1 }), /lastVersion is not a whole number/],
    ['versions an object', (r) => ({ ...r, versions: {} }), /versions is not a list/],
    [
      'a version reused',
      (r) => {
        at(r, 0).version = 2;
        return r;
      },
      /version 2 appears twice/,
    ],
    ['a version above lastVersion', (r) => ({ ...r, lastVersion: 1 }), /version 2 is above lastVersion 1/],
    [
      'version 0',
      (r) => {
        at(r, 0).version = 0;
        return r;
      },
      /versions\[0\]\.version is not a positive whole number/,
    ],
    [
      'an unknown state',
      (r) => {
        at(r, 1).state = 'live';
        return r;
      },
      /versions\[1\]\.state is not/,
    ],
    [
      'an unknown type',
      (r) => {
        at(r, 1).type = 'saml';
        return r;
      },
      /versions\[1\]\.type is not opaque or jwt/,
    ],
    [
      'a live version without its token',
      (r) => {
        delete at(r, 1).token;
        return r;
      },
      /versions\[1\]\.token is missing/,
    ],
    [
      'a hash that is no digest',
      (r) => {
        at(r, 1).tokenHash = 'abc';
        return r;
      },
      /tokenHash is not a sha256 hex digest/,
    ],
    [
      'scopes of numbers',
      (r) => {
        at(r, 1).scopes = [1];
        return r;
      },
      /scopes is not a list of strings/,
    ],
    [
      'an expiry that is no time',
      (r) => {
        at(r, 1).expiresAt = 'tomorrow';
        return r;
      },
      /expiresAt is not a time/,
    ],
    [
      'two active versions',
      (r) => {
        at(r, 0).state = 'active';
        at(r, 0).token = 't';
        return r;
      },
      /2 versions are active/,
    ],
    [
      'currentVersion not recorded',
      (r) => ({ ...r, currentVersion: 7, lastVersion: 7 }),
      /currentVersion 7 is not among the versions/,
    ],
    ['handled.rotate a number', (r) => ({ ...r, handled: { rotate: 3 } }), /handled\.rotate is not a string/],
  ])('names %s', (_, edit, problem) => {
    expect(recordProblem(edit(sound()), POLICY)).toMatch(problem);
  });

  it('never quotes a value, only fields (a field may hold a token)', () => {
    const r = sound();
    at(r, 1).tokenHash = 'tsk_secret_token_value';
    expect(recordProblem(r, POLICY)).not.toContain('tsk_secret_token_value');
  });
});
