import { ValidationError } from '../errors.js';

/** The expected version comes from a client's If-Match, so a malformed one is a ValidationError. */
export function checkExpectedVersion(expectedVersion: number): void {
  if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0)
    throw new ValidationError('The expected version must be a non-negative integer');
}
