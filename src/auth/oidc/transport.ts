import { isLoopbackHost } from '../../config/production.js';

/**
 * Plain-HTTP IdP endpoints (discovery, JWKS, SAML metadata) are accepted only on loopback (the embedded
 * development IdP and tests); everything else must be https.
 */
export function isLoopbackUrl(url: string): boolean {
  try {
    return isLoopbackHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** https anywhere; plain http only on a loopback host (127.0.0.0/8, ::1, localhost). */
export function isAllowedIdpUrl(url: string): boolean {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    return false;
  }
  return protocol === 'https:' || (protocol === 'http:' && isLoopbackUrl(url));
}
