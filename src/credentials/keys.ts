import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  randomBytes,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { KEYS_ENV_VAR } from '../config/production.js';
import { randomBase32 } from './encoding.js';

/**
 * The key ring. A key set is one `kid` with two keys:
 * - an Ed25519 key that signs session tokens (public half published at /.well-known/jwks.json);
 * - a 256-bit HMAC key that derives secret access keys (never leaves the instances).
 *
 * The newest key set (by createdAt) signs and derives for new credentials; every loaded key set keeps
 * verifying, so a rotation never invalidates live sessions. Retire an old key set by removing its file
 * once the longest credential lifetime (at most 12 h) has passed since the rotation.
 *
 * Keys are parsed once into KeyObjects and reused: the hot path never re-imports key material.
 */
export interface KeySet {
  kid: string;
  createdAt: number;
  signingKey: KeyObject;
  verifyingKey: KeyObject;
  derivationKey: KeyObject;
}

/** On-disk / env form of a key set: `<kid>.key.json`, or an element of the FEDPROXY_KEYS JSON array. */
const storedKeySetSchema = z.strictObject({
  kid: z.string().regex(/^[A-Za-z0-9_-]{4,64}$/),
  createdAt: z.iso.datetime(),
  signingKey: z.string().min(1), // PKCS#8 PEM; parsed (and checked) by createPrivateKey below
  derivationKey: z.base64url().refine((s) => Buffer.from(s, 'base64url').length >= 32, 'at least 32 bytes'),
});
export type StoredKeySet = z.infer<typeof storedKeySetSchema>;

export class KeyRing {
  readonly #byKid: Map<string, KeySet>;
  readonly #current: KeySet;
  readonly #jwks: { keys: JsonWebKey[] };

  constructor(sets: readonly KeySet[]) {
    if (sets.length === 0) throw new Error('the key ring is empty');
    this.#byKid = new Map();
    for (const set of sets) {
      if (this.#byKid.has(set.kid)) throw new Error(`duplicate key id ${set.kid}`);
      this.#byKid.set(set.kid, set);
    }
    this.#current = sets.reduce((newest, set) =>
      set.createdAt > newest.createdAt || (set.createdAt === newest.createdAt && set.kid > newest.kid)
        ? set
        : newest,
    );
    this.#jwks = {
      keys: sets.map((set) => ({
        ...set.verifyingKey.export({ format: 'jwk' }),
        kid: set.kid,
        alg: 'EdDSA',
        use: 'sig',
      })),
    };
  }

  /** The key set new credentials use. */
  get current(): KeySet {
    return this.#current;
  }

  find(kid: string): KeySet | undefined {
    return this.#byKid.get(kid);
  }

  get size(): number {
    return this.#byKid.size;
  }

  /** Public signing keys, for /.well-known/jwks.json. */
  jwks(): { keys: JsonWebKey[] } {
    return this.#jwks;
  }
}

export function generateStoredKeySet(now: Date = new Date()): StoredKeySet {
  const { privateKey } = generateKeyPairSync('ed25519');
  return {
    kid: `${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBase32(8).toLowerCase()}`,
    createdAt: now.toISOString(),
    signingKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    derivationKey: randomBytes(32).toString('base64url'),
  };
}

export function importKeySet(stored: unknown, source: string): KeySet {
  const parsed = storedKeySetSchema.safeParse(stored);
  if (!parsed.success) {
    throw new Error(
      `${source}: not a key set (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')})`,
    );
  }
  let signingKey: KeyObject;
  try {
    signingKey = createPrivateKey(parsed.data.signingKey);
  } catch (error) {
    throw new Error(`${source}: signingKey is not a PEM private key`, { cause: error });
  }
  if (signingKey.asymmetricKeyType !== 'ed25519')
    throw new Error(`${source}: signingKey must be an Ed25519 key`);
  return {
    kid: parsed.data.kid,
    createdAt: Date.parse(parsed.data.createdAt),
    signingKey,
    verifyingKey: createPublicKey(signingKey),
    derivationKey: createSecretKey(Buffer.from(parsed.data.derivationKey, 'base64url')),
  };
}

export interface KeySources {
  /** Folder with `*.key.json` files. */
  dir?: string;
  /** JSON of one stored key set or an array of them (the FEDPROXY_KEYS variable). */
  envJson?: string;
  /** Generate a throwaway key set (dev mode). */
  ephemeral?: boolean;
}

/** The key sources a configuration names: `keys.dir`, FEDPROXY_KEYS in `env`, `keys.ephemeral`. */
export function keySourcesOf(keys: Config['keys'], env: NodeJS.ProcessEnv): KeySources {
  return {
    ...(keys.dir === undefined ? {} : { dir: keys.dir }),
    ...(env[KEYS_ENV_VAR] === undefined ? {} : { envJson: env[KEYS_ENV_VAR] }),
    ephemeral: keys.ephemeral,
  };
}

export interface LoadedKeyRing {
  ring: KeyRing;
  /** Problems worth a warning (e.g. key files readable by others). */
  warnings: string[];
}

/** Loads every key set the sources name; fails when none is found. */
export async function loadKeyRing(sources: KeySources): Promise<LoadedKeyRing> {
  const sets: KeySet[] = [];
  const warnings: string[] = [];
  if (sources.dir !== undefined) {
    const names = (await readdir(sources.dir)).filter((name) => name.endsWith('.key.json')).sort();
    for (const name of names) {
      const path = join(sources.dir, name);
      const info = await stat(path);
      if ((info.mode & 0o077) !== 0) warnings.push(`${path} is readable by group or others; chmod 600 it`);
      let json: unknown;
      try {
        json = JSON.parse(await readFile(path, 'utf8'));
      } catch (error) {
        throw new Error(`${path}: not valid JSON`, { cause: error });
      }
      sets.push(importKeySet(json, path));
    }
  }
  if (sources.envJson !== undefined && sources.envJson.trim() !== '') {
    let json: unknown;
    try {
      json = JSON.parse(sources.envJson);
    } catch (error) {
      throw new Error('FEDPROXY_KEYS: not valid JSON', { cause: error });
    }
    for (const [i, stored] of (Array.isArray(json) ? json : [json]).entries()) {
      sets.push(importKeySet(stored, `FEDPROXY_KEYS[${i}]`));
    }
  }
  if (sources.ephemeral) sets.push(importKeySet(generateStoredKeySet(), 'ephemeral'));
  if (sets.length === 0) {
    throw new Error(
      sources.dir !== undefined
        ? `no *.key.json key sets in ${sources.dir}; create one with \`fedproxy keys generate --dir ${sources.dir}\``
        : 'no keys configured: set keys.dir (see `fedproxy keys generate`) or FEDPROXY_KEYS',
    );
  }
  return { ring: new KeyRing(sets), warnings };
}

/** Writes a new key set into `dir` (created 0700 if missing) as `<kid>.key.json`, mode 0600. */
export async function writeNewKeySet(
  dir: string,
  now: Date = new Date(),
): Promise<{ kid: string; path: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stored = generateStoredKeySet(now);
  const path = join(dir, `${stored.kid}.key.json`);
  await writeFile(path, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { kid: stored.kid, path };
}
