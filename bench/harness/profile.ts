/**
 * Reads a V8 CPU profile (`node --cpu-prof`) and lists where the main thread's busy time went: by
 * function (self time) and by package, so the top of the list says what to work on. Idle samples (the
 * process waiting, e.g. while the bench drives the baseline) are left out of the shares; the threadpool
 * (where signatures run) is not sampled at all.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface ProfileEntry {
  name: string;
  share: number;
}

export interface ProfileSummary {
  /** Busy samples: what the shares are of. */
  samples: number;
  functions: ProfileEntry[];
  packages: ProfileEntry[];
}

/** `node_modules/<pkg>` (scoped too), `fedproxy` for the project's own code, `node` for node's own. */
function packageOf(url: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (match?.[1] !== undefined) return match[1];
  if (url.startsWith('node:') || url === '') return 'node (built-in, native, GC)';
  return 'fedproxy';
}

function shortUrl(url: string): string {
  const match = /node_modules\/(.*)$/.exec(url) ?? /\/(src\/.*)$/.exec(url);
  return match?.[1] ?? url;
}

function top(totals: Map<string, number>, samples: number, count: number): ProfileEntry[] {
  return [...totals]
    .sort((x, y) => y[1] - x[1])
    .slice(0, count)
    .map(([name, hits]) => ({ name, share: hits / samples }));
}

export async function summarizeProfile(file: string, count = 25): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as { nodes: ProfileNode[] };
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let samples = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0 || node.callFrame.functionName === '(idle)') continue;
    samples += hits;
    const { functionName, url, lineNumber } = node.callFrame;
    const name =
      url === ''
        ? `(${functionName || 'anonymous'})`
        : `${functionName || '(anonymous)'} ${shortUrl(url)}:${lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + hits);
    const pkg = packageOf(url);
    packages.set(pkg, (packages.get(pkg) ?? 0) + hits);
  }
  return { samples, functions: top(functions, samples, count), packages: top(packages, samples, count) };
}
