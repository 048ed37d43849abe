/**
 * An example resource service: a tiny reports API protected by fedproxy's verifier middleware.
 * Clients sign requests with fedproxy-vended credentials (signing name `reports`); every route says
 * which IAM action and resource it needs, and fedproxy's policies decide.
 *
 *   FEDPROXY_URL=http://127.0.0.1:8080 FEDPROXY_VERIFIER_TOKEN=... npx tsx examples/reports-api/server.ts
 *
 * In an installed project the import is `from 'fedproxy/verifier'`.
 */
import express, { type Request } from 'express';
import { remoteAuthorizer, requireAuthorization, type Authorizer } from '../../src/verifier/index.js';

const reports = new Map<string, Map<string, unknown>>([
  ['engineers', new Map([['q3-latency', { p99: 182, unit: 'ms' }]])],
  ['finance', new Map([['q3-spend', { total: 12345, currency: 'EUR' }]])],
]);

const arn = (team: string, id = '*') => `arn:aws:reports:::team/${team}/${id}`;

export function createReportsApi(authorizer: Authorizer): express.Express {
  const app = express();
  app.disable('x-powered-by');
  const guard = (describe: (req: Request) => { action: string; resource: string }) =>
    requireAuthorization({ authorizer, service: 'reports', describe });

  app.get(
    '/reports/:team',
    guard((req) => ({ action: 'reports:ListReports', resource: arn(String(req.params.team)) })),
    (req, res) => {
      res.json({
        reports: [...(reports.get(String(req.params.team))?.keys() ?? [])],
        caller: res.locals.fedproxy.principal.arn,
      });
    },
  );

  app.get(
    '/reports/:team/:id',
    guard((req) => ({
      action: 'reports:GetReport',
      resource: arn(String(req.params.team), String(req.params.id)),
    })),
    (req, res) => {
      const report = reports.get(String(req.params.team))?.get(String(req.params.id));
      if (report === undefined)
        res.status(404).json({ error: { code: 'NotFound', message: 'No such report' } });
      else res.json(report);
    },
  );

  app.put(
    '/reports/:team/:id',
    guard((req) => ({
      action: 'reports:PutReport',
      resource: arn(String(req.params.team), String(req.params.id)),
    })),
    (req, res) => {
      const team = String(req.params.team);
      if (!reports.has(team)) reports.set(team, new Map());
      reports.get(team)?.set(String(req.params.id), req.body);
      res.status(204).end();
    },
  );
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const url = process.env.FEDPROXY_URL ?? 'http://127.0.0.1:8080';
  const token = process.env.FEDPROXY_VERIFIER_TOKEN;
  if (token === undefined) {
    console.error('set FEDPROXY_VERIFIER_TOKEN to a token whose SHA-256 is in fedproxy’s `verifiers`');
    process.exit(2);
  }
  const port = Number(process.env.PORT ?? 8090);
  createReportsApi(remoteAuthorizer({ url, token })).listen(port, '127.0.0.1', () => {
    console.log(`reports API on http://127.0.0.1:${port}, authorizing through ${url}`);
  });
}
