import { fileURLToPath } from 'node:url';
import { configJsonSchema, envOverrideName } from './load.js';
import type { JsonSchemaNode } from './load.js';

/**
 * Renders docs/configuration.md from the schema (via its input-side JSON Schema), so the reference can
 * never disagree with what the loader accepts. `npm run docs:config` writes it; a test fails when the
 * committed file is out of date.
 */

export const configReferencePath = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

/** Settings shown as one row without their inner structure. */
const opaque = new Map([['roles[].policy', 'IAM policy document']]);

interface Row {
  path: string;
  type: string;
  default: string;
  description: string;
  /** The FEDPROXY_* override, for scalar settings outside lists. */
  env?: string;
}

interface Section {
  title: string;
  intro?: string;
  rows: Row[];
}

const intro = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs:config\`. Do not edit by hand. -->

fedproxy reads one YAML file: \`--config FILE\`, else the file named by \`FEDPROXY_CONFIG\`, else (with
\`serve --dev\`) the packaged \`config/dev.yaml\`. Every problem is reported at once, each with its path and
where the value came from (\`file:line:column\` or the environment variable). The file must be a single YAML
document without duplicate keys. Examples: [\`config/dev.yaml\`](../config/dev.yaml) and
[\`config/production.example.yaml\`](../config/production.example.yaml).

## Where values come from (later wins)

1. **The file.** \`\${env:NAME}\` inside a string value is replaced by the environment variable \`NAME\`
   (for secrets: \`clientSecret: \${env:FEDPROXY_CORP_SECRET}\`). The value is used verbatim, always as a
   string; an unset or empty variable is an error.
2. **\`FEDPROXY_*\` environment overrides** for scalar settings outside lists: \`FEDPROXY_\` followed by the
   path, each key in SNAKE_CASE, levels joined by a double underscore. \`FEDPROXY_SERVER__LISTEN=0.0.0.0:8443\`
   sets \`server.listen\`, \`FEDPROXY_SERVER__PUBLIC_URL\` sets \`server.publicUrl\`. Values are read as YAML
   scalars (\`true\`, \`8080\`) except for settings that only take a string. Not overrides:
   \`FEDPROXY_CONFIG\`, \`FEDPROXY_KEYS\` (a key set, read by the key ring), variables the file references with
   \`\${env:...}\`, and variables whose first segment is not a top-level setting. An unknown setting inside a
   known section is an error.
3. **\`REDIS_URL\`** sets \`store.redis.url\` (unless \`FEDPROXY_STORE__REDIS__URL\` is set) and, in development
   mode, switches \`store.type\` to \`redis\`.
4. **\`serve --dev\`** sets \`mode: development\`. Development mode defaults to the memory store (unless
   \`REDIS_URL\` is set) and ephemeral keys (unless \`keys.dir\` or \`FEDPROXY_KEYS\` is given).

Derived after validation: \`server.publicUrl\` defaults to \`http://<listen>\` (\`https\` with \`server.tls\`;
\`0.0.0.0\` and \`[::]\` become \`127.0.0.1\` and \`[::1]\`), without a trailing slash; \`credentials.issuer\`
defaults to \`server.publicUrl\`; \`devIdp.enabled\` adds the idp \`dev\` (issuer \`<publicUrl>/dev-idp\`, client
\`fedproxy\` with a secret random per process, scopes including \`groups\`) unless an idp with that id is listed.

In production mode (the default) fedproxy refuses to start with the memory store, ephemeral keys, no key
source (\`keys.dir\` or \`FEDPROXY_KEYS\`), the embedded development IdP (\`devIdp.enabled\`), plain HTTP on a
non-loopback listen address without \`server.tls\`, or an \`http:\` \`server.publicUrl\` on a non-loopback host;
the last two are allowed with \`server.allowPlainHttp: true\` (behind a TLS-terminating proxy).
`;

export function renderConfigReference(): string {
  const root = configJsonSchema();
  const sections: Section[] = [];
  const topLevel: Row[] = [];
  for (const [key, node] of Object.entries(root.properties ?? {})) {
    const required = root.required?.includes(key) ?? false;
    if (node.type === 'object' && node.properties !== undefined) {
      const rows: Row[] = [];
      collectRows(node, key, [key], rows);
      sections.push({ title: `\`${key}\``, intro: node.description, rows });
    } else if (node.type === 'array' && node.items !== undefined && isObjectLike(node.items)) {
      const variants = node.items.oneOf ?? node.items.anyOf ?? [node.items];
      const description = node.description === undefined ? '' : `${node.description} `;
      sections.push({
        title: `\`${key}\``,
        intro: `${description}A list (${required ? 'required' : 'default `[]`'}); each entry has the settings below.`,
        rows: [],
      });
      for (const variant of variants) {
        const rows: Row[] = [];
        collectRows(variant, `${key}[]`, undefined, rows);
        const discriminator = variant.properties?.type?.const;
        sections.push({
          title:
            discriminator === undefined
              ? `\`${key}[]\``
              : `\`${key}[]\` with \`type: ${String(discriminator)}\``,
          rows,
        });
      }
    } else topLevel.push(row(key, node, required, [key]));
  }
  sections.unshift({ title: 'Top level', rows: topLevel });
  return [intro, ...sections.map(renderSection)].join('\n');
}

/**
 * The reference formatted with the project's Prettier settings: the exact bytes of the committed file.
 * Prettier is a dev dependency, loaded only here (never by the running server).
 */
export async function formatConfigReference(): Promise<string> {
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(configReferencePath)) ?? {};
  return prettier.format(renderConfigReference(), { ...options, parser: 'markdown' });
}

function collectRows(node: JsonSchemaNode, path: string, envPath: string[] | undefined, rows: Row[]): void {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const childPath = `${path}.${key}`;
    const childEnv = envPath === undefined ? undefined : [...envPath, key];
    const required = node.required?.includes(key) ?? false;
    const kind = opaque.get(childPath);
    if (kind !== undefined) {
      rows.push({ ...row(childPath, child, required, undefined), type: kind });
    } else if (child.type === 'object' && child.properties !== undefined) {
      // An optional section without a default (server.tls) gets its own row: whether it is set matters.
      if (!('default' in child) || child.description !== undefined)
        rows.push({ ...row(childPath, child, required, undefined), type: 'section' });
      collectRows(child, childPath, childEnv, rows);
    } else if (child.type === 'array' && child.items !== undefined && isObjectLike(child.items)) {
      rows.push(row(childPath, child, required, undefined));
      collectRows(child.items, `${childPath}[]`, undefined, rows);
    } else {
      rows.push(row(childPath, child, required, child.type === 'array' ? undefined : childEnv));
    }
  }
}

function row(path: string, node: JsonSchemaNode, required: boolean, envPath: string[] | undefined): Row {
  return {
    path,
    type: typeName(node),
    default:
      'default' in node
        ? isEmptyObject(node.default)
          ? ''
          : `\`${JSON.stringify(node.default)}\``
        : required
          ? 'required'
          : '',
    description: node.description ?? '',
    ...(envPath === undefined ? {} : { env: envOverrideName(envPath) }),
  };
}

function typeName(node: JsonSchemaNode): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum !== undefined) return node.enum.map((v) => `\`${JSON.stringify(v)}\``).join(', ');
  const variants = node.anyOf ?? node.oneOf;
  if (variants !== undefined) return variants.map(typeName).join(' or ');
  switch (node.type) {
    case 'string':
      if (node.format === 'uri') return 'URL';
      return node.pattern === undefined ? 'string' : `string matching \`${node.pattern}\``;
    case 'integer':
    case 'number': {
      const min = node.minimum;
      const max = node.maximum === Number.MAX_SAFE_INTEGER ? undefined : node.maximum;
      if (min !== undefined && max !== undefined) return `${node.type} ${min}–${max}`;
      if (min !== undefined) return `${node.type} ≥ ${min}`;
      return node.type;
    }
    case 'array':
      return node.items === undefined
        ? 'list'
        : isObjectLike(node.items)
          ? 'list of objects'
          : `list of ${typeName(node.items)}`;
    default:
      return typeof node.type === 'string' ? node.type : 'any';
  }
}

function renderSection(section: Section): string {
  const lines = [`## ${section.title}`, ''];
  if (section.intro !== undefined) lines.push(escapeText(section.intro), '');
  if (section.rows.length > 0) {
    const withEnv = section.rows.some((r) => r.env !== undefined);
    const header = [
      'Setting',
      'Type',
      'Default',
      'Description',
      ...(withEnv ? ['Environment override'] : []),
    ];
    lines.push(`| ${header.join(' | ')} |`, `|${header.map(() => ' --- |').join('')}`);
    for (const r of section.rows) {
      const cells = [
        `\`${r.path}\``,
        escapeCell(r.type),
        escapeCell(r.default),
        escapeText(escapeCell(r.description)),
        ...(withEnv ? [r.env === undefined ? '' : `\`${r.env}\``] : []),
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

/** A `|` would end the table cell, even inside a code span (GitHub tables). */
function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

/** Descriptions are plain text: keep `<id>` from being read as an HTML tag. */
function escapeText(text: string): string {
  return text.replaceAll('<', '\\<');
}

function isObjectLike(node: JsonSchemaNode): boolean {
  return node.type === 'object' || node.oneOf !== undefined || (node.anyOf?.every(isObjectLike) ?? false);
}

function isEmptyObject(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0
  );
}
