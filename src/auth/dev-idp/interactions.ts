import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors } from 'oidc-provider';
import type { InteractionDetails, Provider } from 'oidc-provider';
import { loginPage, messagePage, sendPage } from './pages.js';
import type { PageContext } from './pages.js';
import { authenticateDemoUser } from './users.js';
import type { DemoUser } from './users.js';

/**
 * The development IdP's own interactions (oidc-provider's devInteractions accept any account without a
 * password, so they stay off):
 *
 * - login: GET shows a form; POST checks the username and password against the demo users and finishes
 *   the login prompt, or shows the form again with 401. "Cancel" ends the request with access_denied.
 * - consent: granted automatically, for exactly what the client asked (dev only: the only clients are
 *   fedproxy and the demo workload).
 *
 * Cross-site posts are refused by construction: oidc-provider finds the interaction through its
 * `_interaction` cookie, which is SameSite=Lax (not sent on a cross-site POST), and a URL whose uid is
 * not the cookie's interaction is refused too, so one sign-in attempt's page cannot act on another's.
 */

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]{1,64})$/;
/** The login form is two short fields; anything larger is not it. */
const FORM_LIMIT_BYTES = 8 * 1024;

export interface InteractionDeps {
  readonly provider: Provider;
  readonly users: readonly DemoUser[];
  readonly context: PageContext;
  readonly headers: Record<string, string>;
}

/** The uid of an interaction URL path (below the issuer), or undefined for oidc-provider's own routes. */
export function interactionUid(pathname: string): string | undefined {
  return INTERACTION_PATH.exec(pathname)?.[1];
}

export function interactionPath(context: PageContext, uid: string): string {
  return `${context.basePath}/interaction/${uid}`;
}

/** A problem shown to the person at the browser as a page with this status. */
class InteractionProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
  ) {
    super(message);
  }
}

export async function handleInteraction(
  req: IncomingMessage,
  res: ServerResponse,
  uid: string,
  deps: InteractionDeps,
): Promise<void> {
  try {
    const details = await interactionDetails(req, res, uid, deps.provider);
    switch (details.prompt.name) {
      case 'login':
        if (req.method === 'POST') return await submitLogin(req, res, details, deps);
        if (req.method === 'GET' || req.method === 'HEAD') return showLogin(res, details, deps);
        throw new InteractionProblem(405, 'Method not allowed', 'Use the sign-in form.');
      case 'consent':
        return await grantRequestedConsent(req, res, details, deps.provider);
      default:
        throw new InteractionProblem(
          501,
          'Not supported',
          `The development IdP does not handle the "${details.prompt.name}" prompt.`,
        );
    }
  } catch (error) {
    if (!(error instanceof InteractionProblem)) throw error;
    sendPage(res, error.status, messagePage(deps.context, error.title, error.message), deps.headers);
  }
}

async function interactionDetails(
  req: IncomingMessage,
  res: ServerResponse,
  uid: string,
  provider: Provider,
): Promise<InteractionDetails> {
  let details: InteractionDetails;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (error) {
    if (error instanceof errors.SessionNotFound) throw expired();
    throw error;
  }
  // oidc-provider looks the interaction up by its cookie, not by the URL.
  if (details.uid !== uid) throw expired();
  return details;
}

function expired(): InteractionProblem {
  return new InteractionProblem(
    400,
    'Sign-in expired',
    'This sign-in attempt has expired or belongs to another tab (or cookies are blocked). Start again from fedproxy.',
  );
}

function showLogin(res: ServerResponse, details: InteractionDetails, deps: InteractionDeps): void {
  const page = loginPage(deps.context, {
    action: interactionPath(deps.context, details.uid),
    clientId: String(details.params.client_id),
    users: deps.users,
  });
  sendPage(res, 200, page, deps.headers);
}

async function submitLogin(
  req: IncomingMessage,
  res: ServerResponse,
  details: InteractionDetails,
  deps: InteractionDeps,
): Promise<void> {
  const form = await readForm(req);
  if (form.get('action') === 'cancel') {
    const returnTo = await deps.provider.interactionResult(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
    return redirect(res, returnTo);
  }
  const username = form.get('username') ?? '';
  const user = authenticateDemoUser(deps.users, username, form.get('password') ?? '');
  if (user === undefined) {
    const page = loginPage(deps.context, {
      action: interactionPath(deps.context, details.uid),
      clientId: String(details.params.client_id),
      users: deps.users,
      username,
      failed: true,
    });
    return sendPage(res, 401, page, deps.headers);
  }
  const returnTo = await deps.provider.interactionResult(
    req,
    res,
    // remember: false keeps the IdP's session cookie to the browser session.
    { login: { accountId: user.sub, remember: false } },
    { mergeWithLastSubmission: false },
  );
  redirect(res, returnTo);
}

/**
 * Grants what the consent prompt reports missing: the requested OIDC scopes and claims, and resource
 * scopes. Development only; a real IdP asks the user.
 */
async function grantRequestedConsent(
  req: IncomingMessage,
  res: ServerResponse,
  details: InteractionDetails,
  provider: Provider,
): Promise<void> {
  const { session, params, grantId, prompt } = details;
  if (session === undefined) throw new Error('consent prompt without a login session');
  const existing = grantId === undefined ? undefined : await provider.Grant.find(grantId);
  const grant =
    existing ?? new provider.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
  const missing = prompt.details;
  if (missing.missingOIDCScope !== undefined) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims !== undefined) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {}))
    grant.addResourceScope(indicator, scopes.join(' '));
  const returnTo = await provider.interactionResult(
    req,
    res,
    { consent: { grantId: await grant.save() } },
    { mergeWithLastSubmission: true },
  );
  redirect(res, returnTo);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type))
    throw new InteractionProblem(415, 'Unsupported form', 'The sign-in form posts URL-encoded fields.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > FORM_LIMIT_BYTES)
      throw new InteractionProblem(413, 'Form too large', 'The form is too large.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { Location: location, 'Cache-Control': 'no-store', 'Content-Length': '0' });
  res.end();
}
