import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { ConfigError, formatConfigPath } from './errors.js';
import type { ConfigProblem } from './errors.js';
import { DEV_IDP_ID, devIdpEntry } from './dev-idp.js';
import { isLoopbackHost, KEYS_ENV_VAR, productionProblems, splitListen } from './production.js';
import { configSchema, idpSchema } from './schema.js';
import type { Config } from './schema.js';

/**
 * Loading order (later wins):
 *
 * 1. the YAML file: `options.file` (`--config FILE`), else `FEDPROXY_CONFIG`, else with `dev` the packaged
 *    `config/dev.yaml`; `${env:NAME}` inside its string values is replaced by that variable;
 * 2. `FEDPROXY_*` environment overrides (see {@link envOverridePath} for the naming rule);
 * 3. `REDIS_URL`: sets `store.redis.url` (unless `FEDPROXY_STORE__REDIS__URL` is set) and, in development
 *    mode, switches `store.type` to `redis` (unless `FEDPROXY_STORE__TYPE` is set);
 * 4. `dev`: `mode: development`; development mode then defaults to the memory store and ephemeral keys;
 * 5. validation against {@link configSchema}, then the production refusals (production.ts);
 * 6. derived values: `server.publicUrl`, `credentials.issuer`, and with `devIdp.enabled` an `idps` entry
 *    `dev` for the embedded development IdP (unless the file lists an idp with that id).
 *
 * Every problem from every step is collected and thrown together as one {@link ConfigError}.
 */

export interface LoadConfigOptions {
  /** `--config FILE`. Relative to the working directory. */
  file?: string;
  /** `serve --dev`: development mode, and `config/dev.yaml` when no file is named. */
  dev?: boolean;
  /** The environment to read; defaults to `process.env`. Tests pass their own. */
  env?: NodeJS.ProcessEnv;
}

/** A loaded configuration: the schema's output with the derived values filled in. */
export type LoadedConfig = Config & {
  server: Config['server'] & {
    /** Base URL without a trailing slash; append paths directly (`${publicUrl}/auth/...`). */
    publicUrl: string;
  };
  credentials: Config['credentials'] & { issuer: string };
};

export const CONFIG_ENV_VAR = 'FEDPROXY_CONFIG';
export const ENV_OVERRIDE_PREFIX = 'FEDPROXY_';

/**
 * The packaged dev profile, found from this module's location (src/config or dist/config, both two levels
 * below the package root) so `serve --dev` works from any working directory.
 */
export const devConfigPath = fileURLToPath(new URL('../../config/dev.yaml', import.meta.url));

type Path = (string | number)[];
type RawObject = Record<string, unknown>;

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const dev = options.dev === true;
  const file = options.file ?? nonEmpty(env[CONFIG_ENV_VAR]) ?? (dev ? devConfigPath : undefined);
  if (file === undefined)
    throw new ConfigError([
      {
        path: '',
        message: `no configuration file: pass --config FILE, set ${CONFIG_ENV_VAR}, or run with --dev`,
      },
    ]);

  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(error);
    throw new ConfigError([{ path: '', message: `cannot read the configuration file: ${reason}` }], file);
  }
  return resolveConfig(parseConfigYaml(text, file), { env, dev, file });
}

/** A parsed YAML file plus a way back from a setting's path to its line and column. */
interface YamlSource {
  readonly value: RawObject;
  locate(path: readonly PropertyKey[]): string | undefined;
}

/**
 * Parses the file as exactly one YAML 1.2 document whose top level is a mapping (or empty). Syntax
 * errors, duplicate keys (yaml's `uniqueKeys`), unresolved tags and further documents are all refused:
 * a config file must mean one thing. Throws a ConfigError listing every syntax problem.
 */
function parseConfigYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): string => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const problems: ConfigProblem[] = [];
  for (const document of documents) {
    for (const issue of [...document.errors, ...document.warnings])
      problems.push({ path: '', message: `YAML: ${issue.message}`, source: at(issue.pos[0]) });
  }
  for (const extra of documents.slice(1))
    problems.push({
      path: '',
      message: 'YAML: more than one document in the file; a config file holds exactly one',
      source: at(extra.range[0]),
    });
  const document = documents[0];
  const value: unknown = document?.toJS({ maxAliasCount: 100 }) ?? {};
  if (problems.length === 0 && (typeof value !== 'object' || value === null || Array.isArray(value)))
    problems.push({ path: '', message: 'the top level must be a mapping of settings', source: at(0) });
  if (problems.length > 0) throw new ConfigError(problems, file);
  return {
    value: value as RawObject,
    locate: (path) => {
      const range = document === undefined ? undefined : yamlRangeAt(document, path);
      return range === undefined ? undefined : at(range);
    },
  };
}

/**
 * Start offset of the deepest YAML node on `path`: the key of a mapping entry (where the setting is
 * written), an item of a sequence, or the nearest ancestor when the path is not in the file (a missing
 * required setting points at the object that lacks it).
 */
function yamlRangeAt(document: Document, path: readonly PropertyKey[]): number | undefined {
  let node: unknown = document.contents;
  let found: number | undefined = (node as YamlNode | null)?.range?.[0];
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(document);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (pair === undefined) break;
      found = (pair.key as YamlNode).range?.[0] ?? found;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (node === undefined) break;
      found = (node as YamlNode).range?.[0] ?? found;
    } else break;
  }
  return found;
}

interface ResolveOptions {
  env: NodeJS.ProcessEnv;
  dev: boolean;
  file: string;
}

function resolveConfig(source: YamlSource, { env, dev, file }: ResolveOptions): LoadedConfig {
  const problems: ConfigProblem[] = [];
  // A top-level key with nothing under it (`idps:` with every entry commented out) means "not set".
  const raw: RawObject = Object.fromEntries(
    Object.entries(source.value).filter(([, value]) => value !== null),
  );

  const referenced = interpolateEnvReferences(raw, env, (path, message) =>
    problems.push({ path: formatConfigPath(path), message, source: source.locate(path) }),
  );

  // Where each value set from the environment came from, to point problems at the variable, not the file.
  const fromEnv = new Map<string, string>();
  for (const override of envOverrides(env, referenced)) {
    if ('problem' in override) {
      problems.push({ path: override.at, message: override.problem, source: `env ${override.name}` });
      continue;
    }
    if (setIn(raw, override.path, override.value))
      fromEnv.set(formatConfigPath(override.path), override.name);
  }

  const redisUrl = nonEmpty(env.REDIS_URL);
  if (redisUrl !== undefined && !fromEnv.has('store.redis.url')) {
    setIn(raw, ['store', 'redis', 'url'], redisUrl);
    fromEnv.set('store.redis.url', 'REDIS_URL');
  }

  if (dev) raw.mode = 'development';
  if (raw.mode === 'development') applyDevelopmentDefaults(raw, { redisUrl, fromEnv, env });

  const locate = (path: readonly PropertyKey[]): string | undefined => {
    // An issue on a value set from the environment (or inside it) names the variable.
    for (let i = path.length; i > 0; i--) {
      const name = fromEnv.get(formatConfigPath(path.slice(0, i)));
      if (name !== undefined) return `env ${name}`;
    }
    return source.locate(path);
  };
  const report = (path: readonly PropertyKey[], message: string): void => {
    problems.push({ path: formatConfigPath(path), message, source: locate(path) });
  };

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      // One line per unknown key, located at the key itself.
      if (issue.code === 'unrecognized_keys')
        for (const key of issue.keys) report([...issue.path, key], 'unknown setting');
      else report(issue.path, issue.message);
    }
  }

  // The production refusals read only mode, server, store, keys and devIdp: when the whole file is not
  // valid, they run on whichever of those sections are, so the operator sees the refusals in the same error.
  const checked = parsed.success ? parsed.data : validSections(raw);
  if (checked.mode === 'production')
    for (const problem of productionProblems(checked, env)) report(problem.path, problem.message);
  // The development IdP publishes its demo passwords (admin included): never on a reachable address.
  if (
    checked.devIdp?.enabled &&
    checked.server !== undefined &&
    !isLoopbackHost(splitListen(checked.server.listen).host)
  )
    report(
      ['devIdp', 'enabled'],
      'the development IdP serves only on a loopback listen address (its passwords are public)',
    );

  if (!parsed.success || problems.length > 0) throw new ConfigError(problems, file);

  const config = parsed.data;
  const publicUrl = derivePublicUrl(config.server, report);
  if (problems.length > 0) throw new ConfigError(problems, file);
  const addDevIdp = config.devIdp.enabled && !config.idps.some((idp) => idp.id === DEV_IDP_ID);
  return {
    ...config,
    server: { ...config.server, publicUrl },
    credentials: { ...config.credentials, issuer: config.credentials.issuer ?? publicUrl },
    idps: addDevIdp ? [...config.idps, idpSchema.parse(devIdpEntry(publicUrl))] : config.idps,
  };
}

function validSections(
  raw: RawObject,
): Partial<Pick<Config, 'mode' | 'server' | 'store' | 'keys' | 'devIdp'>> {
  const { mode, server, store, keys, devIdp } = configSchema.shape;
  return {
    mode: mode.safeParse(raw.mode).data,
    server: server.safeParse(raw.server).data,
    store: store.safeParse(raw.store).data,
    keys: keys.safeParse(raw.keys).data,
    devIdp: devIdp.safeParse(raw.devIdp).data,
  };
}

/**
 * Development mode works with no setup: the memory store unless `REDIS_URL` names a Redis (which then
 * wins over the file's `store.type: memory`, so `REDIS_URL=... npm start` uses it), and ephemeral keys
 * unless the file or `FEDPROXY_KEYS` provides keys. Explicit `FEDPROXY_*` overrides still win.
 */
function applyDevelopmentDefaults(
  raw: RawObject,
  {
    redisUrl,
    fromEnv,
    env,
  }: { redisUrl: string | undefined; fromEnv: Map<string, string>; env: NodeJS.ProcessEnv },
): void {
  const store = objectAt(raw, 'store');
  if (store !== undefined && !fromEnv.has('store.type')) {
    if (redisUrl !== undefined) {
      store.type = 'redis';
      fromEnv.set('store.type', 'REDIS_URL');
    } else store.type ??= 'memory';
  }
  const keys = objectAt(raw, 'keys');
  if (keys !== undefined && keys.dir === undefined && keys.ephemeral === undefined && !env[KEYS_ENV_VAR])
    keys.ephemeral = true;
}

/**
 * `server.publicUrl` as written (without a trailing slash), else `http(s)://<listen>`: https when
 * server.tls is set. A wildcard bind address is not something a browser can reach, so 0.0.0.0 becomes
 * 127.0.0.1 and [::] becomes [::1]: right for a laptop; anything reached from elsewhere sets publicUrl.
 */
function derivePublicUrl(
  server: Config['server'],
  report: (path: readonly PropertyKey[], message: string) => void,
): string {
  if (server.publicUrl !== undefined) {
    const url = new URL(server.publicUrl);
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '')
      report(['server', 'publicUrl'], 'must be a plain base URL, without credentials, query or fragment');
    return url.href.replace(/\/+$/, '');
  }
  const { host, port } = splitListen(server.listen);
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  try {
    return new URL(`${server.tls === undefined ? 'http' : 'https'}://${reachable}:${port}`).origin;
  } catch {
    report(['server', 'listen'], 'not a usable host:port (port must be 0-65535)');
    return '';
  }
}

/**
 * Replaces `${env:NAME}` in every string value of the parsed file (never in keys) with that variable.
 * Meant for secrets (`clientSecret: ${env:FEDPROXY_CORP_SECRET}`), so: the value is substituted once and
 * verbatim, never re-scanned and never parsed as YAML (it cannot add structure), it is always a string,
 * and an unset or empty variable is an error that names the variable but never shows a value. Other
 * `${...}` forms (policy templates such as `${fed:group}`) are left alone.
 *
 * Returns the names referenced, which are then not treated as overrides even when they start with
 * FEDPROXY_.
 */
function interpolateEnvReferences(
  root: RawObject,
  env: NodeJS.ProcessEnv,
  report: (path: Path, message: string) => void,
): Set<string> {
  const referenced = new Set<string>();
  const visit = (value: unknown, path: Path): unknown => {
    if (typeof value === 'string') {
      if (!value.includes('${env:')) return value;
      return value.replace(/\$\{env:([^}]*)\}/g, (reference, name: string) => {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          report(path, `"${reference}" is not a valid environment reference (\${env:NAME})`);
          return reference;
        }
        referenced.add(name);
        const replacement = env[name];
        if (replacement === undefined || replacement === '') {
          report(path, `environment variable ${name} is not set (or empty)`);
          return reference;
        }
        return replacement;
      });
    }
    if (Array.isArray(value)) {
      value.forEach((item, i) => (value[i] = visit(item, [...path, i])));
    } else if (isPlainObject(value)) {
      for (const [key, item] of Object.entries(value)) value[key] = visit(item, [...path, key]);
    }
    return value;
  };
  visit(root, []);
  return referenced;
}

type EnvOverride =
  { name: string; path: string[]; value: unknown } | { name: string; at: string; problem: string };

/**
 * The environment override naming rule:
 *
 *   FEDPROXY_ + path segments joined by `__`, each segment the SNAKE_CASE form of a camelCase key:
 *   FEDPROXY_SERVER__LISTEN → server.listen, FEDPROXY_SERVER__PUBLIC_URL → server.publicUrl,
 *   FEDPROXY_STORE__REDIS__URL → store.redis.url, FEDPROXY_ACCOUNT_ID → accountId.
 *
 * Only scalar settings outside lists can be overridden (lists such as idps and roles belong in the file,
 * where `${env:NAME}` supplies secrets). Returns the segments, or undefined for a name that is not an
 * override attempt.
 */
export function envOverridePath(name: string): string[] | undefined {
  if (!name.startsWith(ENV_OVERRIDE_PREFIX)) return undefined;
  return name.slice(ENV_OVERRIDE_PREFIX.length).split('__').map(snakeToCamel);
}

function snakeToCamel(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function camelToSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The inverse of {@link envOverridePath}: `['server', 'publicUrl']` → `FEDPROXY_SERVER__PUBLIC_URL`. */
export function envOverrideName(path: readonly string[]): string {
  return ENV_OVERRIDE_PREFIX + path.map(camelToSnake).join('__');
}

/** The schema as JSON Schema (input side): tells which paths exist and which of them hold strings. */
let inputJsonSchema: JsonSchemaNode | undefined;
export interface JsonSchemaNode {
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  format?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  required?: string[];
}
export function configJsonSchema(): JsonSchemaNode {
  inputJsonSchema ??= z.toJSONSchema(configSchema, { io: 'input' }) as JsonSchemaNode;
  return inputJsonSchema;
}

/**
 * Reads every FEDPROXY_* variable that is an override. Not overrides: FEDPROXY_CONFIG (the file),
 * FEDPROXY_KEYS (a key source), names referenced by `${env:...}` in the file, and names whose first
 * segment is not a top-level setting (so unrelated FEDPROXY_* variables do not break start-up). An
 * override of an unknown setting inside a known section is an error, as is a single underscore where a
 * double one was meant (FEDPROXY_SERVER_LISTEN), so a typo is not silently ignored.
 */
function envOverrides(env: NodeJS.ProcessEnv, referenced: Set<string>): EnvOverride[] {
  const root = configJsonSchema();
  const topLevel = root.properties ?? {};
  const overrides: EnvOverride[] = [];
  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    if (raw === undefined || name === CONFIG_ENV_VAR || name === KEYS_ENV_VAR || referenced.has(name))
      continue;
    const path = envOverridePath(name);
    if (path === undefined) continue;
    const [first] = path;
    if (first === undefined || !Object.hasOwn(topLevel, first)) {
      const meant = singleUnderscoreTypo(name, topLevel);
      if (meant !== undefined)
        overrides.push({ name, at: '', problem: `not an override; did you mean ${meant}?` });
      continue;
    }
    const target = schemaAt(root, path);
    if ('problem' in target) overrides.push({ name, ...target });
    else overrides.push({ name, path, value: envValue(raw, target) });
  }
  return overrides;
}

/** FEDPROXY_SERVER_PUBLIC_URL → FEDPROXY_SERVER__PUBLIC_URL when that names a real setting. */
function singleUnderscoreTypo(name: string, topLevel: Record<string, JsonSchemaNode>): string | undefined {
  const rest = name.slice(ENV_OVERRIDE_PREFIX.length);
  for (const [key, node] of Object.entries(topLevel)) {
    const section = `${camelToSnake(key)}_`;
    if (!rest.startsWith(section) || node.properties === undefined) continue;
    const setting = snakeToCamel(rest.slice(section.length));
    if (Object.hasOwn(node.properties, setting)) return envOverrideName([key, setting]);
  }
  return undefined;
}

/** The schema node a scalar override lands on, or where and why it cannot be set from the environment. */
function schemaAt(root: JsonSchemaNode, path: string[]): JsonSchemaNode | { at: string; problem: string } {
  let node = root;
  for (const [i, segment] of path.entries()) {
    const at = formatConfigPath(path.slice(0, i));
    if (node.type === 'array') return { at, problem: 'is a list, which cannot be set from the environment' };
    const next = node.properties?.[segment];
    if (next === undefined || !/^[a-z][A-Za-z0-9]*$/.test(segment))
      return { at, problem: `has no setting named ${segment}` };
    node = next;
  }
  const at = formatConfigPath(path);
  if (node.type === 'array')
    return {
      at,
      problem: 'is a list, which cannot be set from the environment (use ${env:NAME} in the file)',
    };
  if (node.type === 'object')
    return {
      at,
      problem: `is a section; set one of its settings (${envOverrideName(path)}__...)`,
    };
  return node;
}

/**
 * An override's value is read as a YAML scalar so `true`, `8080` and `1.5` get their types, except where
 * the setting only takes a string (an account id `000000000000` stays a string, a URL with `: ` is not
 * parsed into a mapping). Anything that is not a boolean or number stays the literal string.
 */
function envValue(raw: string, target: JsonSchemaNode): unknown {
  const types = [target, ...(target.anyOf ?? []), ...(target.oneOf ?? [])].flatMap((n) =>
    n.type === undefined ? [] : Array.isArray(n.type) ? n.type : [n.type],
  );
  if (types.length > 0 && types.every((t) => t === 'string')) return raw;
  const document = parseDocument(raw);
  if (document.errors.length > 0 || !isScalar(document.contents)) return raw;
  const value = document.contents.value;
  return typeof value === 'boolean' || typeof value === 'number' ? value : raw;
}

/**
 * Sets `path` in the raw tree, creating missing objects. Returns false (and leaves the tree alone) when a
 * value in the way is not an object: validation then reports that value.
 */
function setIn(root: RawObject, path: readonly string[], value: unknown): boolean {
  let node = root;
  for (const segment of path.slice(0, -1)) {
    const next = node[segment] ?? (node[segment] = {});
    if (!isPlainObject(next)) return false;
    node = next;
  }
  const last = path.at(-1);
  if (last === undefined) return false;
  node[last] = value;
  return true;
}

/** The object at a top-level key, created when absent; undefined when something else is there. */
function objectAt(root: RawObject, key: string): RawObject | undefined {
  const value = root[key] ?? (root[key] = {});
  return isPlainObject(value) ? value : undefined;
}

function isPlainObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
