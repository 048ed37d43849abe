import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServices, createApp, type Services } from '../../src/app.js';
import { capturingLogger, testConfig } from '../support/app.js';

describe('HTTP base', () => {
  let services: Services;
  let app: ReturnType<typeof createApp>;
  const { logger, lines } = capturingLogger('info');

  beforeAll(async () => {
    services = await buildServices(testConfig({ server: { listen: '127.0.0.1:0', bodyLimitBytes: 2048 } }), {
      logger,
      processMetrics: false,
    });
    app = createApp(services);
  });
  afterAll(() => services.store.close());

  it('GET /healthz answers 200 without asking any dependency', async () => {
    const res = await request(app).get('/healthz').expect(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz reports the store and keys', async () => {
    const res = await request(app).get('/readyz').expect(200);
    expect(res.body).toEqual({ status: 'ready', checks: { keys: 'ok', store: 'ok' } });
  });

  it('GET /.well-known/jwks.json lists the Ed25519 public key of the current signer', async () => {
    const res = await request(app).get('/.well-known/jwks.json').expect(200);
    expect(res.body.keys).toHaveLength(1);
    expect(res.body.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: services.keys.current.kid });
    expect(res.body.keys[0]).not.toHaveProperty('d');
  });

  it('GET /metrics exposes the request-duration histogram labelled by route pattern and status', async () => {
    await request(app).get('/healthz');
    await request(app).get('/no/such/path/123');
    const res = await request(app).get('/metrics').expect(200);
    expect(res.text).toMatch(
      /fedproxy_http_request_duration_seconds_count\{method="GET",route="\/healthz",status="200"\} \d+/,
    );
    expect(res.text).toMatch(/route="unmatched",status="404"/);
    expect(res.text).not.toContain('/no/such/path/123');
  });

  it('unknown routes answer the JSON error shape with 404', async () => {
    const res = await request(app).get('/nope').expect(404);
    expect(res.body.error).toMatchObject({ code: 'NotFound', message: 'No such route' });
  });

  it('an oversized body is refused with 413 before it is parsed', async () => {
    const res = await request(app)
      .post('/anything')
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ pad: 'x'.repeat(4096) }))
      .expect(413);
    expect(res.body.error.code).toBe('PayloadTooLarge');
  });

  it('malformed JSON is a 400 ValidationError', async () => {
    const res = await request(app)
      .post('/anything')
      .set('Content-Type', 'application/json')
      .send('{"a":')
      .expect(400);
    expect(res.body.error.code).toBe('ValidationError');
  });

  it('sets a strict CSP and the usual hardening headers, and hides the framework', async () => {
    const res = await request(app).get('/healthz');
    const csp = res.headers['content-security-policy'];
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('echoes a plain client request id, and replaces a hostile one', async () => {
    expect((await request(app).get('/healthz').set('X-Request-Id', 'abc-123')).headers['x-request-id']).toBe(
      'abc-123',
    );
    const replaced = (await request(app).get('/healthz').set('X-Request-Id', 'a b<script>"x"')).headers[
      'x-request-id'
    ];
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('never logs authorization headers, cookies, session tokens or query strings', async () => {
    const token = 'eyJhbGciOiJFZERTQSJ9.eyJzaWQiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl';
    lines.length = 0;
    await request(app)
      .post('/v1/anything?X-Amz-Signature=deadbeefsecret&code=oidc-code-secret')
      .set('Authorization', `Bearer ${token}`)
      .set('Cookie', 'fp_session=cookie-secret-value')
      .set('X-Amz-Security-Token', 'session-token-secret')
      .send({ WebIdentityToken: token });
    const logged = lines.join('\n');
    expect(logged).toContain('/v1/anything');
    for (const secret of [
      token,
      'cookie-secret-value',
      'session-token-secret',
      'deadbeefsecret',
      'oidc-code-secret',
    ]) {
      expect(logged).not.toContain(secret);
    }
  });
});
