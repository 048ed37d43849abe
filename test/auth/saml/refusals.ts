import { expect } from 'vitest';
import { SamlResponseError, type SamlCheck } from '../../../src/auth/saml/refusal.js';

/** Awaits a validation that must fail with a SamlResponseError, and returns the error. */
export async function refusalOf(validation: Promise<unknown>): Promise<SamlResponseError> {
  try {
    await validation;
  } catch (error) {
    if (error instanceof SamlResponseError) return error;
    throw error;
  }
  throw new Error('the response was accepted');
}

/** Asserts the refusal's check and that its reason matches. */
export async function expectRefused(
  validation: Promise<unknown>,
  check: SamlCheck,
  reason: RegExp,
): Promise<SamlResponseError> {
  const error = await refusalOf(validation);
  expect({ check: error.check, reason: error.reason }).toEqual({
    check,
    reason: expect.stringMatching(reason),
  });
  return error;
}
