/**
 * One load run: autocannon with a fixed number of keep-alive connections, after a short warm-up, so JIT
 * compilation, caches and connection set-up are not in the figures.
 */
import autocannon from 'autocannon';

export const CONNECTIONS = 50;

/** What autocannon sends: a fixed request, or one rebuilt for each call (a new session name, say). */
export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Called for every request; returns the body to send. */
  nextBody?: () => string;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx answers, connection errors and timeouts. */
  errors: number;
  requests: number;
}

export async function drive(
  baseUrl: string,
  request: LoadRequest,
  durationMs: number,
  warmUpMs: number,
): Promise<LoadResult> {
  if (warmUpMs > 0) await run(baseUrl, request, warmUpMs);
  return run(baseUrl, request, durationMs);
}

async function run(baseUrl: string, request: LoadRequest, durationMs: number): Promise<LoadResult> {
  const { nextBody } = request;
  const result = await autocannon({
    url: baseUrl,
    connections: CONNECTIONS,
    duration: durationMs / 1000,
    timeout: 10,
    requests: [
      {
        method: request.method,
        path: request.path,
        ...(request.headers === undefined ? {} : { headers: request.headers }),
        ...(request.body === undefined ? {} : { body: request.body }),
        ...(nextBody === undefined ? {} : { setupRequest: (req) => ({ ...req, body: nextBody() }) }),
      },
    ],
  });
  return {
    requestsPerSecond: result.requests.total / result.duration, // duration: seconds, as measured
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.non2xx + result.errors, // errors: connection errors, timeouts included
    requests: result.requests.total,
  };
}
