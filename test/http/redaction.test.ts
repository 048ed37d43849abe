import { describe, expect, it } from 'vitest';
import { REDACTED, redactSecrets } from '../../src/log.js';
import { capturingLogger } from '../support/app.js';

describe('log redaction', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ';

  it('replaces secret-named fields at any depth, whatever their case or separator', () => {
    const out = redactSecrets({
      SecretAccessKey: 's1',
      nested: { sessionToken: 's2', deeper: [{ client_secret: 's3', 'x-amz-security-token': 's4' }] },
      SAMLResponse: 's5',
      WebIdentityToken: 's6',
      password: 's7',
      headers: { authorization: 's8', cookie: 's9' },
      keep: 'visible',
      code: 'AccessDenied',
    });
    const text = JSON.stringify(out);
    for (const secret of ['s1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9'])
      expect(text).not.toContain(`"${secret}"`);
    expect(text).toContain('visible');
    expect(text).toContain('AccessDenied');
  });

  it('replaces JWT-shaped strings under innocent names and inside messages of errors', () => {
    const out = redactSecrets({ note: `got ${jwt} from client`, err: new Error(`bad token ${jwt}`) });
    expect(JSON.stringify(out)).not.toContain(jwt);
    expect(JSON.stringify(out)).toContain(REDACTED);
  });

  it('what a logger writes has gone through redaction', () => {
    const { logger, lines } = capturingLogger();
    logger.info({ request: { SessionToken: jwt, role: 'reader' }, err: new Error(`token ${jwt}`) }, 'minted');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(jwt);
    expect(lines[0]).toContain('reader');
  });

  it('leaves req, res and err to their serializers, which keep only safe fields', () => {
    const { logger, lines } = capturingLogger();
    const req = {
      id: 'r1',
      method: 'POST',
      originalUrl: `/v1/credentials?code=${jwt}`,
      headers: { authorization: `Bearer ${jwt}`, 'x-innocent': jwt },
      socket: { remoteAddress: '10.0.0.1' },
    };
    const res = { statusCode: 200, getHeaders: () => ({ 'set-cookie': 'fp_session=secret' }) };
    logger.info({ req, res, err: new Error(`token ${jwt}`), token: 'plain-secret' }, 'request completed');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line.req).toEqual({ id: 'r1', method: 'POST', path: '/v1/credentials' });
    expect(line.res).toEqual({ statusCode: 200 });
    expect(line.token).toBe(REDACTED);
    expect(lines[0]).not.toContain(jwt);
    expect(lines[0]).not.toContain('secret');
  });
});
