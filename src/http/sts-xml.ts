import type { IssuedCredentials } from '../credentials/credentials.js';
import { awsTimestamp } from './credential-shapes.js';

/**
 * The STS Query API's XML, as AWS answers it (namespace https://sts.amazonaws.com/doc/2011-06-15/).
 * Every value is escaped; element names are fixed here, never taken from input.
 */
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

export type XmlNode = string | number | { [element: string]: XmlNode | undefined };

/** Escapes markup and replaces characters XML 1.0 cannot carry at all (controls, lone surrogates). */
function escapeXml(value: string): string {
  return value
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/[&<>"']/g, (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`);
}

function render(node: XmlNode): string {
  if (typeof node === 'string') return escapeXml(node);
  if (typeof node === 'number') return String(node);
  return Object.entries(node)
    .filter((entry): entry is [string, XmlNode] => entry[1] !== undefined)
    .map(([element, child]) => `<${element}>${render(child)}</${element}>`)
    .join('');
}

/** `<{Action}Response><{Action}Result>…</{Action}Result><ResponseMetadata>…</ResponseMetadata></{Action}Response>` */
export function stsResponse(
  action: string,
  result: Record<string, XmlNode | undefined>,
  requestId: string,
): string {
  return (
    `<${action}Response xmlns="${STS_NAMESPACE}">` +
    render({ [`${action}Result`]: result, ResponseMetadata: { RequestId: requestId } }) +
    `</${action}Response>\n`
  );
}

export function stsErrorResponse(code: string, message: string, status: number, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${STS_NAMESPACE}">` +
    render({
      Error: { Type: status >= 500 ? 'Receiver' : 'Sender', Code: code, Message: message },
      RequestId: requestId,
    }) +
    `</ErrorResponse>\n`
  );
}

export function credentialsXml(credentials: IssuedCredentials): Record<string, XmlNode> {
  return {
    AccessKeyId: credentials.accessKeyId,
    SecretAccessKey: credentials.secretAccessKey,
    SessionToken: credentials.sessionToken,
    Expiration: awsTimestamp(credentials.expiration),
  };
}
