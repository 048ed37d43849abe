import { isIP } from 'node:net';

/**
 * Plain-HTTP IdP endpoints are accepted only on loopback (the embedded development IdP and tests);
 * everything else must be https.
 */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return false;
  }
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}
