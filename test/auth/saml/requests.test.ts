/**
 * The lifecycle of an SP-initiated request id and of an accepted assertion id, against both stores: the
 * request id is single use, shared by every instance, and kept until a *valid* response uses it; an
 * assertion is accepted once, even when posted twice at the same moment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REQUEST_NAMESPACE, REQUEST_TTL_MS } from '../../../src/auth/saml/service-provider.js';
import { ManualClock } from '../../../src/clock.js';
import { memoryStoreKind, redisStoreKind, type TestStoreKind } from '../../support/stores.js';
import { samlFixtures, samlTestKeys, testServiceProvider, type SamlTestKeys } from './fixtures.js';
import { expectRefused, refusalOf } from './refusals.js';

let keys: SamlTestKeys;
beforeAll(async () => {
  keys = await samlTestKeys();
});

describe.each([memoryStoreKind(), redisStoreKind()])('with the $kind store', (kind: TestStoreKind) => {
  afterAll(() => kind.cleanup());

  async function started() {
    const store = kind.make(new ManualClock(Date.now()));
    const { sp } = await testServiceProvider(keys, { store });
    const { requestId } = await sp.startSignIn('/after');
    return { sp, store, requestId, fixtures: samlFixtures(keys, { inResponseTo: requestId }) };
  }

  it('stores the request id for REQUEST_TTL_MS and names it in the AuthnRequest', async () => {
    const { sp, store } = await started();
    const { requestId, redirectTo } = await sp.startSignIn('/somewhere');
    const request = await keys.idp.authnRequestFrom(new URL(redirectTo));
    expect(request.id).toBe(requestId);
    expect(JSON.parse((await store.once.get(REQUEST_NAMESPACE, requestId))!)).toEqual({
      idp: 'corp',
      returnTo: '/somewhere',
    });
  });

  it('a forged post naming the request id does not cancel the sign-in in progress', async () => {
    const { sp, fixtures } = await started();
    // Bad signature, wrong recipient (validly signed), wrong audience: all refused ...
    await expectRefused(
      sp.finishSignIn(await fixtures.assertionSignedByKeyInfoCertificate()),
      'signature',
      /Invalid/,
    );
    await expectRefused(sp.finishSignIn(await fixtures.wrongRecipient()), 'recipient', /other-sp/);
    await expectRefused(sp.finishSignIn(await fixtures.wrongAudience()), 'audience', /mismatch/);
    // ... and the user's own response still completes the sign-in.
    const { identity, returnTo } = await sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned());
    expect(identity.subject).toBe('alice');
    expect(returnTo).toBe('/after');
  });

  it('exactly one of two concurrent posts of the same assertion succeeds', async () => {
    const { sp, fixtures } = await started();
    const response = await fixtures.responseUnsignedAssertionSigned();
    const results = await Promise.allSettled([sp.finishSignIn(response), sp.finishSignIn(response)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(await refusalOf(Promise.reject(rejected?.reason))).toMatchObject({ check: 'replay' });
  });

  it('exactly one of two different valid responses to one request succeeds', async () => {
    const { sp, fixtures } = await started();
    const [first, second] = await Promise.all([
      fixtures.responseUnsignedAssertionSigned(),
      fixtures.responseUnsignedAssertionSigned(),
    ]);
    const results = await Promise.allSettled([sp.finishSignIn(first), sp.finishSignIn(second)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.find((r) => r.status === 'rejected');
    expect(await refusalOf(Promise.reject(rejected?.reason))).toMatchObject({ check: 'in-response-to' });
  });

  it('another instance sharing the store completes a sign-in this one started', async () => {
    const { store, requestId, fixtures } = await started();
    const { sp: otherInstance } = await testServiceProvider(keys, { store });
    const { returnTo } = await otherInstance.finishSignIn(await fixtures.responseUnsignedAssertionSigned());
    expect(returnTo).toBe('/after');
    expect(await store.once.get(REQUEST_NAMESPACE, requestId)).toBeNull();
  });
});

describe('request ids', () => {
  it('expire after REQUEST_TTL_MS', async () => {
    const clock = new ManualClock(Date.now());
    const { sp } = await testServiceProvider(keys, { clock, store: memoryStoreKind().make(clock) });
    const { requestId } = await sp.startSignIn('/');
    clock.advance(REQUEST_TTL_MS + 1000);
    const late = samlFixtures(keys, {
      inResponseTo: requestId,
      notOnOrAfter: Date.now() + 3600_000,
      confirmationNotOnOrAfter: Date.now() + 3600_000,
    });
    await expectRefused(
      sp.finishSignIn(await late.responseUnsignedAssertionSigned()),
      'in-response-to',
      /expired/,
    );
  });

  it("belong to one IdP: another IdP's response naming them is refused", async () => {
    const store = memoryStoreKind().make(new ManualClock(Date.now()));
    const { sp: corp } = await testServiceProvider(keys, { store });
    const { sp: other } = await testServiceProvider(keys, { store, config: { id: 'other' } });
    const { requestId } = await corp.startSignIn('/');
    const forOther = samlFixtures(keys, {
      inResponseTo: requestId,
      destination: other.acsUrl,
      audience: other.entityId,
    });
    await expectRefused(
      other.finishSignIn(await forOther.responseUnsignedAssertionSigned()),
      'in-response-to',
      /not a pending request/,
    );
  });

  it('are read from signed bytes: Response and assertion must agree', async () => {
    const { sp } = await testServiceProvider(keys);
    const { requestId } = await sp.startSignIn('/');
    const { requestId: otherRequest } = await sp.startSignIn('/');
    const mismatched = samlFixtures(keys, { inResponseTo: requestId, responseInResponseTo: otherRequest });
    await expectRefused(
      sp.finishSignIn(await mismatched.responseUnsignedAssertionSigned()),
      'in-response-to',
      /different requests/,
    );
  });

  it('on an unsigned Response alone are not trusted; on a signed Response they are', async () => {
    const { sp } = await testServiceProvider(keys);
    const { requestId } = await sp.startSignIn('/');
    // No InResponseTo in the (signed) assertion, only on the Response.
    const fixtures = samlFixtures(keys, { responseInResponseTo: requestId });
    await expectRefused(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned()),
      'in-response-to',
      /only on the unsigned Response/,
    );
    const { identity } = await sp.finishSignIn(await fixtures.responseSignedAssertionSigned());
    expect(identity.subject).toBe('alice');
  });

  it('are never made up from unsafe text', async () => {
    const { sp } = await testServiceProvider(keys);
    await sp.startSignIn('/');
    const fixtures = samlFixtures(keys, { inResponseTo: 'fp:saml:request:*' });
    await expectRefused(
      sp.finishSignIn(await fixtures.responseUnsignedAssertionSigned()),
      'in-response-to',
      /not a pending/,
    );
  });
});
