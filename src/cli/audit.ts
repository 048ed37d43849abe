import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { AuditChainVerifier } from '../audit/chain.js';
import type { AuditChainProblem } from '../audit/chain.js';

const EXPORT_USAGE = 'audit: expected `audit export [--config FILE] [--dev] [--verify] [--after ID]`';
/** Entries read per round trip. */
const PAGE_SIZE = 1000;
/** Breaks listed in the error; the count of all of them is always given. */
const MAX_BREAKS_LISTED = 10;

export interface AuditCommandIo {
  /** Where the JSON lines go (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** Where the summary goes (default process.stderr), so stdout holds nothing but entries. */
  stderr?: NodeJS.WritableStream;
  /** The environment for the configuration (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/**
 * `fedproxy audit export [--config FILE] [--dev] [--verify] [--after ID]`
 *
 * Writes the audit stream, oldest first, as JSON lines `{"id","hash","entry"}` (entry as stored, so the
 * hashes can be checked again from the file alone). `--after ID` starts after that entry (a cursor from an
 * earlier export). With `--verify` the chain is checked while streaming: the export still runs to the end
 * (it is a copy worth having), then the command fails with where the chain breaks.
 *
 * The first exported entry's link is taken on trust: the stream is bounded, so its predecessor may have
 * been trimmed. A reader that falls more than the stream's length behind live writers would see entries
 * trimmed under it, which verifies as 'missing'; run it again if the instance was busy.
 */
export async function auditCommand(args: string[], io: AuditCommandIo = {}): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'export') throw new Error(EXPORT_USAGE);
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      dev: { type: 'boolean', default: false },
      verify: { type: 'boolean', default: false },
      after: { type: 'string' },
    },
    strict: true,
  });
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;

  // Loaded here, as `serve` does, so `fedproxy help` needs none of this.
  const { loadConfig } = await import('../config/load.js');
  const { createStore } = await import('../store/index.js');
  const config = await loadConfig({
    ...(values.config === undefined ? {} : { file: values.config }),
    dev: values.dev,
    env: io.env ?? process.env,
  });
  const store = createStore(config.store);
  const verifier = values.verify ? new AuditChainVerifier() : undefined;
  const breaks: { id: string; problem: AuditChainProblem; detail: string }[] = [];
  let count = 0;
  try {
    let after = values.after;
    for (;;) {
      const page = await store.audit.read({ limit: PAGE_SIZE, ...(after === undefined ? {} : { after }) });
      for (const stored of page) {
        const found = verifier?.check(stored);
        if (found !== undefined) breaks.push({ id: stored.id, ...found });
        const line = `${JSON.stringify({ id: stored.id, hash: stored.hash, entry: stored.entry })}\n`;
        if (!stdout.write(line)) await once(stdout, 'drain');
        count += 1;
      }
      const last = page.at(-1);
      if (last === undefined || page.length < PAGE_SIZE) break;
      after = last.id;
    }
  } finally {
    await store.close();
  }

  if (verifier === undefined) {
    stderr.write(`exported ${count} audit entries (not verified; add --verify)\n`);
    return;
  }
  if (breaks.length > 0) {
    const listed = breaks
      .slice(0, MAX_BREAKS_LISTED)
      .map((b) => `  at ${b.id}: ${b.problem}: ${b.detail}`)
      .join('\n');
    const more =
      breaks.length > MAX_BREAKS_LISTED ? `\n  ... and ${breaks.length - MAX_BREAKS_LISTED} more` : '';
    throw new Error(
      `audit chain broken: ${breaks.length} problem(s) in ${count} exported entries\n${listed}${more}`,
    );
  }
  const result = verifier.result();
  const head = result.ok ? result.head : '';
  stderr.write(`exported and verified ${count} audit entries; head ${head || '(empty)'}\n`);
}
