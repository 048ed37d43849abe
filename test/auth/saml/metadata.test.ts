/**
 * SP metadata, the AuthnRequest, and IdP settings from metadata (file or URL) or from the configuration.
 */
import { createVerify } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseStrictXml } from '../../../src/auth/saml/strict-xml.js';
import { ManualClock } from '../../../src/clock.js';
import { idpSchema } from '../../../src/config/schema.js';
import {
  bareCertificate,
  generateSamlKeyPair,
  TestSamlIdp,
  type SamlKeyPair,
} from '../../support/saml-idp.js';
import {
  ACS_URL,
  IDP_ID,
  samlFixtures,
  samlTestKeys,
  SP_ENTITY_ID,
  testServiceProvider,
  type SamlTestKeys,
} from './fixtures.js';
import { expectRefused } from './refusals.js';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';

let keys: SamlTestKeys;
let dir: string;
beforeAll(async () => {
  keys = await samlTestKeys();
  dir = await mkdtemp(join(tmpdir(), 'fedproxy-saml-'));
});

/**
 * Completes one SP-initiated sign-in with a response signed by `signer` (the IdP's key by default),
 * valid for three hours (tests that move fedproxy's clock forward stay inside it).
 */
async function signInWith(sp: Awaited<ReturnType<typeof testServiceProvider>>['sp'], signer?: SamlKeyPair) {
  const { requestId } = await sp.startSignIn('/');
  const fixtures = samlFixtures(keys, { inResponseTo: requestId });
  const until = Date.now() + 3 * 3600_000;
  return sp.finishSignIn(
    await fixtures.responseUnsignedAssertionSigned({
      notOnOrAfter: until,
      confirmationNotOnOrAfter: until,
      sessionNotOnOrAfter: until,
      ...(signer === undefined ? {} : { signOptions: { keys: signer } }),
    }),
  );
}

describe('SP metadata', () => {
  function descriptorOf(xml: string) {
    const root = parseStrictXml(xml, { allowComments: false });
    expect(root.localName).toBe('EntityDescriptor');
    expect(root.namespaceURI).toBe(MD);
    const sp = root.getElementsByTagNameNS(MD, 'SPSSODescriptor')[0]!;
    const keyDescriptors = [...Array.from(sp.getElementsByTagNameNS(MD, 'KeyDescriptor'))].map((k) => ({
      use: k.getAttribute('use'),
      certificate: k.getElementsByTagNameNS(DS, 'X509Certificate')[0]?.textContent?.replace(/\s+/g, ''),
    }));
    const acs = sp.getElementsByTagNameNS(MD, 'AssertionConsumerService')[0]!;
    return { root, sp, keyDescriptors, acs };
  }

  it('parses as XML and names the entity ID, the ACS URL (HTTP-POST) and the signing certificate', async () => {
    const { sp } = await testServiceProvider(keys, {
      config: { signing: { key: keys.spSigning.privateKey, certificate: keys.spSigning.certificate } },
    });
    const { root, sp: descriptor, keyDescriptors, acs } = descriptorOf(sp.metadataXml());
    expect(root.getAttribute('entityID')).toBe(SP_ENTITY_ID);
    expect(acs.getAttribute('Location')).toBe(ACS_URL);
    expect(acs.getAttribute('Binding')).toBe('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    expect(descriptor.getAttribute('WantAssertionsSigned')).toBe('true');
    expect(descriptor.getAttribute('AuthnRequestsSigned')).toBe('true');
    expect(keyDescriptors).toEqual([
      { use: 'signing', certificate: bareCertificate(keys.spSigning.certificate) },
      { use: 'encryption', certificate: bareCertificate(keys.spDecryption.certificate) },
    ]);
  });

  it('lists no key without signing or decryption keys, and uses a configured SP entity ID', async () => {
    const { sp } = await testServiceProvider(keys, {
      config: { decryption: undefined, spEntityId: 'urn:fedproxy:corp' },
    });
    const { root, keyDescriptors, sp: descriptor } = descriptorOf(sp.metadataXml());
    expect(root.getAttribute('entityID')).toBe('urn:fedproxy:corp');
    expect(keyDescriptors).toEqual([]);
    expect(descriptor.getAttribute('AuthnRequestsSigned')).toBe('false');
  });
});

describe('the AuthnRequest (HTTP-Redirect)', () => {
  it("goes to the IdP's SSO URL and names the request id, our ACS URL and our entity ID", async () => {
    const { sp } = await testServiceProvider(keys);
    const { redirectTo, requestId } = await sp.startSignIn('/');
    const url = new URL(redirectTo);
    expect(`${url.origin}${url.pathname}`).toBe(keys.idp.ssoUrl);
    expect(url.searchParams.has('RelayState')).toBe(false);
    const request = await keys.idp.authnRequestFrom(url);
    expect(request).toMatchObject({
      id: requestId,
      issuer: SP_ENTITY_ID,
      acsUrl: ACS_URL,
      destination: keys.idp.ssoUrl,
    });
    expect(request.xml).not.toContain('RequestedAuthnContext');
  });

  it('is signed with RSA-SHA256 when a signing key is configured', async () => {
    const { sp } = await testServiceProvider(keys, {
      config: { signing: { key: keys.spSigning.privateKey, certificate: keys.spSigning.certificate } },
    });
    const url = new URL((await sp.startSignIn('/')).redirectTo);
    expect(url.searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    // The HTTP-Redirect binding signs the query string as sent, in this order.
    const signed = ['SAMLRequest', 'SigAlg']
      .map((name) => `${name}=${encodeURIComponent(url.searchParams.get(name)!)}`)
      .join('&');
    const verifier = createVerify('RSA-SHA256').update(signed);
    expect(verifier.verify(keys.spSigning.certificate, url.searchParams.get('Signature')!, 'base64')).toBe(
      true,
    );
  });
});

describe('IdP settings from metadata', () => {
  it('reads entity ID, SSO URL and signing certificate from a metadata file', async () => {
    const file = join(dir, 'idp-metadata.xml');
    await writeFile(file, keys.idp.metadataXml());
    const { sp } = await testServiceProvider(keys, {
      config: { metadata: file, entityId: undefined, entryPoint: undefined, certificates: [] },
    });
    expect(new URL((await sp.startSignIn('/')).redirectTo).origin).toBe(new URL(keys.idp.ssoUrl).origin);
    expect((await signInWith(sp)).identity.issuer).toBe(keys.idp.entityId);
  });

  it('trusts only configured certificates when both are given (pinning)', async () => {
    const file = join(dir, 'idp-metadata-two-certs.xml');
    await writeFile(
      file,
      keys.idp.metadataXml({ certificates: [keys.idp.keys.certificate, keys.attacker.certificate] }),
    );
    const { sp } = await testServiceProvider(keys, {
      config: {
        metadata: file,
        entityId: undefined,
        entryPoint: undefined,
        certificates: [keys.idp.keys.certificate],
      },
    });
    await expectRefused(signInWith(sp, keys.attacker), 'signature', /Invalid signature/);
    await expect(signInWith(sp)).resolves.toBeDefined();
  });

  it('accepts either certificate during a rollover', async () => {
    const next = await generateSamlKeyPair('next IdP key');
    const { sp } = await testServiceProvider(keys, {
      config: { certificates: [keys.idp.keys.certificate, next.certificate] },
    });
    await expect(signInWith(sp)).resolves.toBeDefined();
    await expect(signInWith(sp, next)).resolves.toBeDefined();
  });

  it('refuses expired metadata, metadata with a DOCTYPE, and an unknown entity, when the server starts', async () => {
    const expired = join(dir, 'expired.xml');
    await writeFile(expired, keys.idp.metadataXml({ validUntil: Date.now() - 1000 }));
    await expect(testServiceProvider(keys, { config: { metadata: expired } })).rejects.toThrow(
      /metadata expired/,
    );
    const doctype = join(dir, 'doctype.xml');
    await writeFile(
      doctype,
      keys.idp.metadataXml().replace('<md:EntityDescriptor', '<!DOCTYPE x><md:EntityDescriptor'),
    );
    await expect(testServiceProvider(keys, { config: { metadata: doctype } })).rejects.toThrow(/DOCTYPE/);
    const other = join(dir, 'other.xml');
    await writeFile(other, keys.idp.metadataXml());
    await expect(
      testServiceProvider(keys, { config: { metadata: other, entityId: 'https://another-idp.example' } }),
    ).rejects.toThrow(/no identity provider with entityID/);
    await expect(
      testServiceProvider(keys, { config: { metadata: join(dir, 'missing.xml') } }),
    ).rejects.toThrow(/idps\[corp\]\.metadata/);
  });

  describe('from a URL', () => {
    let server: Server;
    let url: string;
    let served: TestSamlIdp;
    let status = 200;
    let fetches = 0;

    beforeAll(async () => {
      served = keys.idp;
      server = createServer((_req, res) => {
        fetches++;
        res.statusCode = status;
        res.end(status === 200 ? served.metadataXml() : 'down');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('is fetched when first needed, refreshed after its max age, and kept when a refresh fails', async () => {
      const clock = new ManualClock(Date.now());
      const { sp, lines } = await testServiceProvider(keys, {
        clock,
        config: {
          metadata: url,
          metadataMaxAgeSeconds: 3600,
          entityId: undefined,
          entryPoint: undefined,
          certificates: [],
        },
      });
      expect(fetches).toBe(0);
      await expect(signInWith(sp)).resolves.toBeDefined();
      expect(fetches).toBe(1);

      // The IdP rolls its key over; fedproxy picks it up after the max age.
      const rolled = await generateSamlKeyPair('rolled IdP key');
      served = await TestSamlIdp.create({ keys: rolled });
      clock.advance(3601_000);
      await expect(signInWith(sp, rolled)).resolves.toBeDefined();
      expect(fetches).toBe(2);

      // The metadata URL fails: the previous metadata stays in use, with a warning.
      status = 500;
      clock.advance(3601_000);
      await expect(signInWith(sp, rolled)).resolves.toBeDefined();
      expect(lines.some((line) => line.includes('saml.metadata.refresh-failed'))).toBe(true);
      status = 200;
      served = keys.idp;
    });

    it('answers 503 when metadata was never loaded', async () => {
      status = 500;
      try {
        const { sp } = await testServiceProvider(keys, {
          config: { metadata: url, entityId: undefined, entryPoint: undefined, certificates: [] },
        });
        await expect(sp.startSignIn('/')).rejects.toMatchObject({
          status: 503,
          code: 'IDPCommunicationError',
        });
      } finally {
        status = 200;
      }
    });
  });
});

describe('configuration', () => {
  it('without metadata, requires entity ID, SSO URL and at least one certificate', () => {
    const result = idpSchema.safeParse({ id: IDP_ID, type: 'saml' });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.')).sort()).toEqual([
      'certificates',
      'entityId',
      'entryPoint',
    ]);
  });

  it('has strict defaults', () => {
    const parsed = idpSchema.parse({ id: IDP_ID, type: 'saml', metadata: 'https://idp.example/metadata' });
    expect(parsed).toMatchObject({
      allowIdpInitiated: false,
      wantAuthnResponseSigned: false,
      clockSkewSeconds: 30,
      maxResponseBytes: 256 * 1024,
    });
  });
});
