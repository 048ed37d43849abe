import { isIP } from 'node:net';
import type { Config } from './schema.js';

/**
 * Production refuses settings that are only safe on a developer's laptop. Every refusal is reported
 * (not just the first), with the path of the setting to change. These run only when `mode` is
 * `production`; `serve --dev` sets `mode: development`.
 */

export interface ProductionProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * The sections the production checks read. Each may be missing (because it failed validation): the checks
 * on the others still run, so one round of edits fixes everything.
 */
export type ProductionCheckInput = Partial<Pick<Config, 'server' | 'store' | 'keys' | 'devIdp'>>;

/**
 * `FEDPROXY_KEYS` (the key set itself, in the environment) counts as a key source as good as `keys.dir`;
 * the key ring loader reads it, this check only needs to know that it is there.
 */
export const KEYS_ENV_VAR = 'FEDPROXY_KEYS';

export function productionProblems(
  config: ProductionCheckInput,
  env: NodeJS.ProcessEnv,
): ProductionProblem[] {
  const problems: ProductionProblem[] = [];
  const { server, store, keys, devIdp } = config;

  // Memory store: sessions and revocations live in one process and vanish on restart; a second instance
  // would neither see the first one's sessions nor honour its revocations.
  if (store?.type === 'memory')
    problems.push({
      path: ['store', 'type'],
      message:
        'the memory store is for development only (one process, lost on restart, revocations not shared); use store.type: redis',
    });

  // Ephemeral keys: every restart invalidates every credential, and instances cannot verify each other's.
  if (keys?.ephemeral)
    problems.push({
      path: ['keys', 'ephemeral'],
      message:
        'ephemeral keys are for development only (credentials die with the process, instances cannot verify each other); remove it and use keys.dir',
    });

  if (keys !== undefined && keys.dir === undefined && !env[KEYS_ENV_VAR])
    problems.push({
      path: ['keys', 'dir'],
      message: `production needs signing keys: set keys.dir (see \`fedproxy keys generate\`) or provide ${KEYS_ENV_VAR}`,
    });

  // The development IdP signs in anyone who knows the demo passwords, which the banner and docs publish.
  if (devIdp?.enabled)
    problems.push({
      path: ['devIdp', 'enabled'],
      message:
        'the embedded development IdP is for development only (demo users with published passwords); remove devIdp.enabled and configure a real IdP under idps',
    });

  // Plain HTTP beyond loopback would carry session tokens, secrets and login cookies in clear. Behind a
  // TLS-terminating proxy that is fine, and the operator says so with allowPlainHttp.
  if (server === undefined) return problems;
  if (server.tls === undefined && !server.allowPlainHttp && !isLoopbackHost(splitListen(server.listen).host))
    problems.push({
      path: ['server', 'tls'],
      message: `plain HTTP on the non-loopback address ${server.listen}; configure server.tls, or set server.allowPlainHttp: true when a TLS-terminating proxy is in front`,
    });

  if (server.publicUrl !== undefined && !server.allowPlainHttp) {
    const url = new URL(server.publicUrl);
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
      problems.push({
        path: ['server', 'publicUrl'],
        message: `${url.origin} is plain HTTP on a non-loopback host: browsers would send login cookies and credentials in clear; use https, or set server.allowPlainHttp: true if a proxy upgrades it`,
      });
  }
  return problems;
}

/** A validated `host:port` in its parts (`[::1]:8080` → host `[::1]`, port 8080). */
export function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at), port: Number(listen.slice(at + 1)) };
}

/**
 * Whether a host name or address only reaches this machine: `localhost`, 127.0.0.0/8, ::1 (with or
 * without brackets), and IPv4-mapped 127.x. Wildcards (0.0.0.0, ::) are not loopback: they listen on
 * every interface.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const lower = bare.toLowerCase();
  if (lower === 'localhost') return true;
  if (isIP(lower) === 4) return lower.startsWith('127.');
  if (isIP(lower) === 6) {
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped?.[1] !== undefined && mapped[1].startsWith('127.');
  }
  return false;
}
