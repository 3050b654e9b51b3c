/**
 * What a failed reconcile shows: a catalogued error as it is, anything else as Unexpected saying it
 * is a bug and naming only the error's class (its message may carry a response body), and giving
 * up on a policy that keeps changing as NotConverging (it used to be reported as VaultConflict).
 */
import { describe, expect, it } from 'vitest';
import { ERRORS, TokensmithError, describeFailure } from '../../src/errors.ts';

describe('describeFailure', () => {
  it('shows a catalogued error as it is', () => {
    expect(describeFailure(new TokensmithError('NotConverging', 'still changing after 12 steps'))).toEqual({
      reason: 'NotConverging',
      message: 'still changing after 12 steps',
    });
    expect(ERRORS.NotConverging.retryable).toBe(true);
  });

  it('shows anything else as Unexpected, without its message', () => {
    const failure = describeFailure(new TypeError('token=hvs.secret-in-a-body'));
    expect(failure.reason).toBe('Unexpected');
    expect(failure.message).toBe(
      'tokensmith hit an unexpected error (unexpected TypeError): this is a bug in tokensmith; the controller log has the details, please report it',
    );
    expect(failure.message).not.toContain('hvs.');
  });
});
