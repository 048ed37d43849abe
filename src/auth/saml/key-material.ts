import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';

/**
 * Certificates and keys from the configuration: PEM text, a bare base64 certificate (as copied out of
 * metadata), or the path of a file holding either. Parsed with node:crypto when the server starts, so a
 * wrong path or a corrupt key stops the start with a message that names the setting.
 */

const BARE_BASE64 = /^[A-Za-z0-9+/=\s]{100,}$/;

async function textOf(value: string, setting: string): Promise<string> {
  if (value.includes('-----BEGIN ') || BARE_BASE64.test(value)) return value;
  try {
    return await readFile(value, 'utf8');
  } catch (error) {
    throw new Error(`${setting}: cannot read ${JSON.stringify(value)}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** A certificate as normalised PEM; bare base64 gets its PEM armour. */
export function certificatePem(text: string, setting: string): string {
  const pem = text.includes('-----BEGIN ')
    ? text
    : `-----BEGIN CERTIFICATE-----\n${text.replace(/\s+/g, '').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
  try {
    return new X509Certificate(pem).toString();
  } catch (error) {
    throw new Error(`${setting}: not an X.509 certificate: ${(error as Error).message}`, { cause: error });
  }
}

export async function loadCertificate(value: string, setting: string): Promise<string> {
  return certificatePem(await textOf(value, setting), setting);
}

/** A private key as PEM (PKCS#8), checked to be an RSA key: what node-saml can sign and decrypt with. */
export async function loadPrivateKey(value: string, setting: string): Promise<string> {
  const text = await textOf(value, setting);
  try {
    const key = createPrivateKey(text);
    if (key.asymmetricKeyType !== 'rsa')
      throw new Error(`a ${key.asymmetricKeyType ?? 'non-RSA'} key; RSA is required`);
    return key.export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch (error) {
    throw new Error(`${setting}: not a usable private key: ${(error as Error).message}`, { cause: error });
  }
}
