/**
 * Redis memory per live session: a Redis of its own (nothing else in it), N sessions minted through the
 * real resolver and minter for 10 000 users with three groups each and a templated policy, and the growth
 * of `used_memory` divided by N. Everything a session costs is counted: its record, the access-key
 * pointer and its entries in the listing indexes.
 */
import { Redis } from 'ioredis';
import { buildServices } from '../src/app.js';
import type { RoleConfig } from '../src/config/schema.js';
import type { Identity } from '../src/auth/identity.js';
import { testConfig } from '../test/support/app.js';
import { startThrowawayRedis } from '../test/support/redis-server.js';

export interface RedisMemoryResult {
  sessions: number;
  bytesPerSession: number;
  /** Keys per session, as counted by DBSIZE. */
  keysPerSession: number;
  /** MEMORY USAGE of one session record (the hash), for scale. */
  recordBytes: number;
}

const USERS = 10_000;
const CONCURRENCY = 64;

const role: RoleConfig = {
  name: 'data-analyst',
  description: 'Read your own folder of the analytics bucket',
  maxSessionDuration: 14_400,
  defaultSessionDuration: 3600,
  policy: {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadOwnObjects',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: ['arn:aws:s3:::analytics/${fed:username}/*'],
      },
      {
        Sid: 'ListOwnPrefix',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws:s3:::analytics'],
        Condition: { StringLike: { 's3:prefix': ['${fed:username}/*'] } },
      },
    ],
  },
};

function identity(i: number): Identity {
  const user = i % USERS;
  return {
    idp: 'corp',
    protocol: 'oidc',
    issuer: 'https://login.corp.example',
    subject: `00u${String(user).padStart(8, '0')}`,
    username: `user${user}`,
    email: `user${user}@corp.example`,
    groups: ['engineers', 'data-analysts', `team-${user % 50}`],
    attributes: {},
    authTime: Date.now(),
  };
}

export async function measureRedisMemory(sessions: number): Promise<RedisMemoryResult> {
  const redis = await startThrowawayRedis();
  const raw = new Redis(redis.url);
  try {
    const config = testConfig({
      store: { type: 'redis', redis: { url: redis.url } },
      credentials: { issuer: 'https://fedproxy.corp.example', reuseWindowSeconds: 0 },
      roles: [role],
      mappings: [{ group: 'data-analysts', roles: ['data-analyst'] }],
    });
    const services = await buildServices(config, { processMetrics: false });
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
    const before = await usedMemory();
    const keysBefore = await raw.dbsize();
    let next = 0;
    let sid = '';
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < sessions) {
          const who = identity(next++);
          const grant = services.resolver.grantFor(who, role.name, {});
          sid = (await services.minter.mintCredentials(who, grant)).sessionId;
        }
      }),
    );
    const after = await usedMemory();
    const keys = (await raw.dbsize()) - keysBefore;
    // Only the record's key names the sid (index keys hold sids as members, the access-key pointer as value).
    const [recordKey = ''] = await raw.keys(`*${sid}*`);
    const recordBytes = Number(await raw.memory('USAGE', recordKey));
    await services.catalog.close();
    await services.store.close();
    return {
      sessions,
      bytesPerSession: (after - before) / sessions,
      keysPerSession: keys / sessions,
      recordBytes,
    };
  } finally {
    raw.disconnect();
    redis.process.kill();
  }
}
