/**
 * A configuration that cannot be used. Deliberately not an AppError: it never reaches an HTTP client,
 * it stops the process at start (or a CLI command) with a message meant for the operator.
 *
 * The message lists every problem found, one per line, so a broken config is fixed in one edit:
 *
 *     Invalid configuration in /etc/fedproxy/config.yaml (2 problems):
 *       - roles[0].maxSessionDuration: Too big: expected number to be <=43200 (/etc/fedproxy/config.yaml:14:5)
 *       - server.listen: expected host:port, e.g. 127.0.0.1:8080 (env FEDPROXY_SERVER__LISTEN)
 *
 * Messages never contain the value of a `${env:NAME}` reference (those are secrets), only the name.
 */
export interface ConfigProblem {
  /** Dotted path of the setting (`roles[0].maxSessionDuration`); empty for file-level problems. */
  readonly path: string;
  readonly message: string;
  /** Where the offending value came from: `file:line:column` or `env NAME`; absent when unknown. */
  readonly source?: string;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  /** The configuration file, as it was named (absent when no file was found). */
  readonly file: string | undefined;

  constructor(problems: readonly ConfigProblem[], file?: string) {
    super(formatConfigProblems(problems, file));
    this.name = 'ConfigError';
    this.problems = problems;
    this.file = file;
  }
}

export function formatConfigProblems(problems: readonly ConfigProblem[], file?: string): string {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const header =
    file === undefined ? `Invalid configuration (${count}):` : `Invalid configuration in ${file} (${count}):`;
  const lines = problems.map(
    (p) =>
      `  - ${p.path === '' ? '' : `${p.path}: `}${p.message}${p.source === undefined ? '' : ` (${p.source})`}`,
  );
  return [header, ...lines].join('\n');
}

/** `['roles', 0, 'policy', 'Condition', 'aws:SourceIp']` → `roles[0].policy.Condition["aws:SourceIp"]`. */
export function formatConfigPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$]*$/.test(segment))
      out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}
