import { DOMParser } from '@xmldom/xmldom';

export const SAMLP_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
export const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
export const MD_NS = 'urn:oasis:names:tc:SAML:2.0:metadata';
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;

/** XML that fedproxy refuses to read; the message says why and never quotes the document. */
export class XmlRefusedError extends Error {}

/**
 * Parses XML that came from outside (SAML responses, IdP metadata). Before any parser sees it, the text is
 * refused when it holds something a SAML message never needs and XML parsers have been attacked through:
 *
 * - a DOCTYPE or ENTITY declaration (entity expansion, external entities; node-saml 5.1 accepts a DTD
 *   without entities),
 * - a processing instruction other than the leading XML declaration,
 * - an encoding other than UTF-8 (the bytes were decoded as UTF-8; a declaration that says otherwise
 *   means the sender and we would read different characters),
 * - a comment, unless `allowComments` (metadata files are edited by hand; SAML responses never need one,
 *   and a comment inside a signed value is how `alice<!---->.evil` attacks work: canonicalization drops it
 *   from the signed bytes while a naive reader stops at it).
 *
 * It then parses with @xmldom/xmldom, the parser node-saml and xml-crypto use, so the document checked
 * here is the document they verify. Any parser error or warning refuses, as do a second root element
 * and non-whitespace text outside the root. Returns the root element.
 */
export function parseStrictXml(text: string, options: { allowComments: boolean }): Element {
  let body = text;
  const declaration = /^<\?xml\s[^<>?]*\?>/.exec(text);
  if (declaration !== null) {
    const encoding = /\bencoding\s*=\s*["']([^"']*)["']/.exec(declaration[0])?.[1];
    if (encoding !== undefined && !/^utf-?8$/i.test(encoding))
      throw new XmlRefusedError(`declares encoding ${JSON.stringify(encoding.slice(0, 20))}, not UTF-8`);
    body = text.slice(declaration[0].length);
  }
  if (/<!DOCTYPE/i.test(body)) throw new XmlRefusedError('has a DOCTYPE declaration');
  if (/<!ENTITY/i.test(body)) throw new XmlRefusedError('has an ENTITY declaration');
  if (body.includes('<?')) throw new XmlRefusedError('has a processing instruction');
  if (!options.allowComments && body.includes('<!--')) throw new XmlRefusedError('has a comment');

  const problems: string[] = [];
  const report = (message: string) => problems.push(message.replace(/\s+/g, ' ').slice(0, 160));
  const document = new DOMParser({
    locator: {},
    errorHandler: { warning: report, error: report, fatalError: report },
  }).parseFromString(text, 'text/xml');
  if (problems.length > 0) throw new XmlRefusedError(`is not well-formed XML (${problems[0]})`);

  const roots: Element[] = [];
  for (let node = document.firstChild; node !== null; node = node.nextSibling) {
    switch (node.nodeType) {
      case ELEMENT_NODE:
        roots.push(node as Element);
        break;
      case TEXT_NODE:
        if (/\S/.test(node.nodeValue ?? '')) throw new XmlRefusedError('has text outside the root element');
        break;
      case PROCESSING_INSTRUCTION_NODE:
        // xmldom keeps the XML declaration as a processing instruction `xml`; the text check above
        // already refused every other one.
        if ((node as ProcessingInstruction).target !== 'xml')
          throw new XmlRefusedError('has a processing instruction');
        break;
      case COMMENT_NODE:
        if (!options.allowComments) throw new XmlRefusedError('has a comment');
        break;
      default:
        throw new XmlRefusedError(`has an unexpected node (type ${node.nodeType}) outside the root`);
    }
  }
  const [root] = roots;
  if (root === undefined || roots.length !== 1)
    throw new XmlRefusedError(`has ${roots.length} root elements, not one`);
  return root;
}

/** The element children of a node, in document order. */
export function elementChildren(node: Node): Element[] {
  const out: Element[] = [];
  for (let child = node.firstChild; child !== null; child = child.nextSibling)
    if (child.nodeType === ELEMENT_NODE) out.push(child as Element);
  return out;
}

/** Element children with this namespace and local name. */
export function childElements(parent: Node, namespace: string, localName: string): Element[] {
  return elementChildren(parent).filter((e) => e.namespaceURI === namespace && e.localName === localName);
}

/**
 * The one child with this name, or undefined when there is none; several is an error (the caller would
 * otherwise have to pick one, and picking is where wrapping attacks live).
 */
export function singleChild(parent: Node, namespace: string, localName: string): Element | undefined {
  const found = childElements(parent, namespace, localName);
  if (found.length > 1)
    throw new XmlRefusedError(`has ${found.length} ${localName} elements where one is allowed`);
  return found[0];
}

/** Every element below `root` (and `root` itself) with this local name, in any namespace. */
export function elementsByLocalName(root: Node, localName: string): Element[] {
  const out: Element[] = [];
  const visit = (node: Node) => {
    if (node.nodeType === ELEMENT_NODE && (node as Element).localName === localName)
      out.push(node as Element);
    for (let child = node.firstChild; child !== null; child = child.nextSibling) visit(child);
  };
  visit(root);
  return out;
}

/** Every element below `root`, and `root` itself. */
export function allElements(root: Node): Element[] {
  const out: Element[] = [];
  const visit = (node: Node) => {
    if (node.nodeType === ELEMENT_NODE) out.push(node as Element);
    for (let child = node.firstChild; child !== null; child = child.nextSibling) visit(child);
  };
  visit(root);
  return out;
}

/** An attribute's value, or undefined when the attribute is absent (not ''). */
export function attributeOf(element: Element, name: string): string | undefined {
  return element.hasAttribute(name) ? (element.getAttribute(name) ?? undefined) : undefined;
}

/**
 * The text of a simple element: its text and CDATA children joined. Undefined when it has element
 * children (a structured value is not a string) or is `xsi:nil`.
 */
export function simpleText(element: Element): string | undefined {
  if (element.getAttributeNS(XSI_NS, 'nil') === 'true') return undefined;
  let text = '';
  for (let child = element.firstChild; child !== null; child = child.nextSibling) {
    if (child.nodeType === TEXT_NODE || child.nodeType === CDATA_SECTION_NODE) text += child.nodeValue ?? '';
    else if (child.nodeType === ELEMENT_NODE) return undefined;
  }
  return text;
}
